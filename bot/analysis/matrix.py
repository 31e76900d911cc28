"""The ratings matrix (members × candidates) and pairwise comparisons, derived from current stances
and best picks (themselves derived from the kept reaction events by bot.domain.preferences)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from bot.domain.model import STANCE_VOTE, Stance
from bot.domain.preferences import ReactionEvent, best_picks, current_stances

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RatingsMatrix:
    """votes[i, j]: member i's stance on candidate j as +1 endorse, −1 object, 0 pass, NaN not voted."""

    members: tuple[str, ...]
    candidates: tuple[int, ...]
    votes: FloatArray

    @property
    def voted(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.votes)

    @property
    def votes_per_member(self) -> IntArray:
        return np.asarray(self.voted.sum(axis=1), dtype=np.int64)

    def rows(self, keep: npt.NDArray[np.bool_]) -> RatingsMatrix:
        return RatingsMatrix(tuple(m for m, k in zip(self.members, keep, strict=True) if k), self.candidates, self.votes[keep])


def ratings_matrix(
    stances: Mapping[tuple[str, int], Stance], candidates: Sequence[int] | None = None, members: Sequence[str] | None = None
) -> RatingsMatrix:
    """Rows: `members` in the order given (use order of arrival: Polis seeds k-means with the first
    rows), default sorted; members without a vote on `candidates` are dropped. Columns: `candidates`
    as given (default: every candidate voted on, sorted); stances on other candidates are ignored."""
    cands = tuple(candidates) if candidates is not None else tuple(sorted({c for _, c in stances}))
    col = {c: j for j, c in enumerate(cands)}
    voters = {m for (m, c) in stances if c in col}
    members = tuple(m for m in dict.fromkeys(members) if m in voters) if members is not None else tuple(sorted(voters))
    row = {m: i for i, m in enumerate(members)}
    votes = np.full((len(members), len(cands)), np.nan)
    if stances:
        keys = [(row[m], col[c], STANCE_VOTE[s]) for (m, c), s in stances.items() if c in col and s in STANCE_VOTE]
        if keys:
            arr = np.asarray(keys, dtype=np.int64)
            votes[arr[:, 0], arr[:, 1]] = arr[:, 2]
    return RatingsMatrix(members, cands, votes)


@dataclass(frozen=True, slots=True)
class Comparison:
    member: str
    scenario_id: int
    winner: int  # candidate id
    loser: int
    source: str  # "best" (best-of-scenario pick) or "stance" (endorsed over objected)


def pairwise_comparisons(
    stances: Mapping[tuple[str, int], Stance],
    best: Mapping[tuple[str, int], int],
    shown: Mapping[int, Sequence[int]],
) -> list[Comparison]:
    """shown: scenario → the candidates every member was shown for it. A best pick beats every other
    candidate of its scenario; within a scenario, each endorsed candidate beats each objected one
    (once per member and pair, even when a best pick already says so)."""
    scenario_of = {c: s for s, cands in shown.items() for c in cands}
    out: list[Comparison] = []
    seen: set[tuple[str, int, int]] = set()
    for (member, scenario), winner in sorted(best.items()):
        for loser in shown.get(scenario, ()):
            if loser != winner:
                seen.add((member, winner, loser))
                out.append(Comparison(member, scenario, winner, loser, "best"))
    by_member: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
    for (member, cand), stance in sorted(stances.items()):
        where = scenario_of.get(cand)
        if where is None or stance not in (Stance.ENDORSE, Stance.OBJECT):
            continue
        ups, downs = by_member.setdefault((member, where), ([], []))
        (ups if stance == Stance.ENDORSE else downs).append(cand)
    for (member, scenario), (ups, downs) in sorted(by_member.items()):
        for w in ups:
            for lo in downs:
                if (member, w, lo) not in seen:
                    seen.add((member, w, lo))
                    out.append(Comparison(member, scenario, w, lo, "stance"))
    return out


# ---------------------------------------------------------------- vectorised paths for large rounds


@dataclass(frozen=True)
class Reactions:
    """Current stances (as the matrix) and best picks, derived from events without a Python loop
    per event, with the same rules as bot.domain.preferences (which handles the keys that saw a removal)."""

    matrix: RatingsMatrix
    members: tuple[str, ...]  # everyone with a current stance or best pick, in order of arrival
    best_member: IntArray  # index into members
    best_scenario: IntArray  # scenario id
    best_candidate: IntArray  # candidate id

    @property
    def reactions(self) -> int:
        return int((~np.isnan(self.matrix.votes)).sum()) + len(self.best_member)


def _codes(values: list[str]) -> tuple[IntArray, list[str]]:
    """Each value's code, 0, 1, … in order of first appearance, and the distinct values in that order."""
    first: dict[str, int] = {}
    at_first = np.fromiter(map(first.setdefault, values, count()), dtype=np.int64, count=len(values))
    return np.asarray(np.searchsorted(np.fromiter(first.values(), dtype=np.int64), at_first), dtype=np.int64), list(first)


def _lookup(keys: IntArray, table: Mapping[int, int]) -> IntArray:
    """table[key] for each key, −1 where absent."""
    if not table:
        return np.full(len(keys), -1, dtype=np.int64)
    known = np.fromiter(table.keys(), dtype=np.int64)
    values = np.fromiter(table.values(), dtype=np.int64)
    order = np.argsort(known)
    pos = np.clip(np.searchsorted(known[order], keys), 0, len(known) - 1)
    found = known[order][pos] == keys
    return np.where(found, values[order][pos], -1).astype(np.int64)


def reactions_from_events(
    events: Sequence[ReactionEvent], candidates: Sequence[int], scenario_of: Mapping[int, int]
) -> Reactions:
    cands = tuple(candidates)
    evs = [e for e in events if e.candidate_id in scenario_of]
    n = len(evs)
    member, names = _codes(list(map(attrgetter("member"), evs)))
    seq = np.fromiter(map(attrgetter("seq"), evs), dtype=np.int64, count=n)
    cand = np.fromiter(map(attrgetter("candidate_id"), evs), dtype=np.int64, count=n)
    code_of = {Stance.OBJECT: 0, Stance.PASS: 1, Stance.ENDORSE: 2, Stance.BEST: 3}
    stance = np.fromiter(map(code_of.__getitem__, map(attrgetter("stance"), evs)), dtype=np.int64, count=n)
    removed = np.fromiter(map(attrgetter("removed"), evs), dtype=bool, count=n)
    scen_ids = sorted(set(scenario_of.values()))
    scen_pos = {s: i for i, s in enumerate(scen_ids)}
    col_of = {c: j for j, c in enumerate(cands)}
    col = _lookup(cand, col_of)
    scen = _lookup(cand, {c: scen_pos[s] for c, s in scenario_of.items()})

    def latest(mask: npt.NDArray[np.bool_], key: IntArray) -> tuple[IntArray, IntArray]:
        """(events to use: the last add per key without any removal; keys that saw a removal)."""
        k, s = key[mask], seq[mask]
        idx = np.flatnonzero(mask)
        with_removal = np.unique(k[removed[idx]])
        clean = ~np.isin(k, with_removal)
        k, s, idx = k[clean], s[clean], idx[clean]
        order = np.lexsort((s, k))
        last = order[np.r_[k[order][1:] != k[order][:-1], True]] if len(order) else order
        return idx[last], with_removal

    # stances: key = member × candidate column
    is_stance = (stance < 3) & (col >= 0)
    s_key = member * max(1, len(cands)) + col
    use, messy = latest(is_stance, s_key)
    rows_m, rows_c, rows_v = member[use], col[use], stance[use] - 1.0
    member_code = {name: i for i, name in enumerate(names)} if len(removed) and removed.any() else {}
    if len(messy):
        subset = [evs[i] for i in np.flatnonzero(is_stance & np.isin(s_key, messy))]
        for (mname, cid), st in current_stances(subset).items():
            rows_m = np.append(rows_m, member_code[mname])
            rows_c = np.append(rows_c, col_of[cid])
            rows_v = np.append(rows_v, STANCE_VOTE[st])
    # best picks: key = member × scenario
    is_best = stance == 3
    b_key = member * max(1, len(scen_ids)) + scen
    use, messy = latest(is_best, b_key)
    b_m, b_s, b_c = member[use], scen[use], cand[use]
    if len(messy):
        subset = [evs[i] for i in np.flatnonzero(is_best & np.isin(b_key, messy))]
        for (mname, sid), cid in best_picks(subset, scenario_of).items():
            b_m = np.append(b_m, member_code[mname])
            b_s = np.append(b_s, scen_pos[sid])
            b_c = np.append(b_c, cid)
    # members in order of arrival (first event), those with something current only
    order = np.argsort(seq, kind="stable")
    _, first = np.unique(member[order], return_index=True)
    first_at = np.full(len(names), n, dtype=np.int64)
    first_at[np.unique(member[order])] = first
    present = np.zeros(len(names), dtype=bool)
    present[rows_m] = True
    present[b_m] = True
    arrival = [i for i in np.argsort(first_at, kind="stable") if present[i]]
    new_index = np.full(len(names), -1, dtype=np.int64)
    new_index[arrival] = np.arange(len(arrival))
    voters = np.zeros(len(names), dtype=bool)
    voters[rows_m] = True
    row_order = [i for i in arrival if voters[i]]
    row_of = np.full(len(names), -1, dtype=np.int64)
    row_of[row_order] = np.arange(len(row_order))
    votes = np.full((len(row_order), len(cands)), np.nan)
    votes[row_of[rows_m], rows_c] = rows_v
    m = RatingsMatrix(tuple(names[i] for i in row_order), cands, votes)
    scen_arr = np.asarray(scen_ids, dtype=np.int64)
    return Reactions(m, tuple(names[i] for i in arrival), new_index[b_m], scen_arr[b_s] if len(b_s) else b_s, b_c)


@dataclass(frozen=True)
class ComparisonArrays:
    members: tuple[str, ...]
    member: IntArray  # index into members
    scenario: IntArray  # scenario id
    winner: IntArray  # candidate id
    loser: IntArray  # candidate id

    def __len__(self) -> int:
        return len(self.member)

    @classmethod
    def of(cls, comparisons: Iterable[Comparison]) -> ComparisonArrays:
        comps = list(comparisons)
        names = tuple(dict.fromkeys(c.member for c in comps))
        index = {m: i for i, m in enumerate(names)}
        arr = np.array([(index[c.member], c.scenario_id, c.winner, c.loser) for c in comps], dtype=np.int64).reshape(-1, 4)
        return cls(names, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


def comparison_arrays(r: Reactions, shown: Mapping[int, Sequence[int]]) -> ComparisonArrays:
    """The same comparisons as pairwise_comparisons, vectorised: a best pick beats every other
    candidate shown in its scenario; each endorsed candidate beats each objected one in a scenario,
    unless the member's best pick there already says so."""
    m = r.matrix
    where = {name: i for i, name in enumerate(r.members)}
    member_of_row = np.fromiter((where[x] for x in m.members), dtype=np.int64, count=len(m.members))
    col_of = {c: j for j, c in enumerate(m.candidates)}
    best_of: dict[int, dict[int, int]] = {}  # scenario → member index → picked candidate
    for mem, sid, cid in zip(r.best_member.tolist(), r.best_scenario.tolist(), r.best_candidate.tolist(), strict=True):
        best_of.setdefault(sid, {})[mem] = cid
    parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
    for sid, cands in shown.items():
        # best picks
        picks = best_of.get(sid, {})
        if picks:
            who = np.fromiter(picks.keys(), dtype=np.int64, count=len(picks))
            won = np.fromiter(picks.values(), dtype=np.int64, count=len(picks))
            for lo in cands:
                keep = won != lo
                parts.append((who[keep], np.full(int(keep.sum()), sid), won[keep], np.full(int(keep.sum()), lo)))
        # endorse over object
        cols = [(c, col_of[c]) for c in cands if c in col_of]
        picked = np.full(len(r.members), -1, dtype=np.int64)
        if picks:
            picked[np.fromiter(picks.keys(), dtype=np.int64, count=len(picks))] = np.fromiter(picks.values(), dtype=np.int64)
        for w, jw in cols:
            up = m.votes[:, jw] == 1
            if not up.any():
                continue
            for lo, jl in cols:
                if lo == w:
                    continue
                rows = np.flatnonzero(up & (m.votes[:, jl] == -1))
                who = member_of_row[rows]
                who = who[picked[who] != w]
                parts.append((who, np.full(len(who), sid), np.full(len(who), w), np.full(len(who), lo)))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return ComparisonArrays(r.members, empty, empty, empty, empty)
    cat = [np.concatenate([p[i] for p in parts]).astype(np.int64) for i in range(4)]
    return ComparisonArrays(r.members, cat[0], cat[1], cat[2], cat[3])
