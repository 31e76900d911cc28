"""The ratings matrix (members × candidates) and pairwise comparisons, derived from current stances
and best picks (themselves derived from the kept reaction events by bot.preferences)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.model import STANCE_VOTE, Stance

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


def members_of(comparisons: Iterable[Comparison]) -> set[str]:
    return {c.member for c in comparisons}
