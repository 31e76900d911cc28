"""The whole analysis of one round, as a pure function of its candidates and reaction events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from threadpoolctl import threadpool_limits

from bot.analysis import bridging, polis
from bot.analysis.choice import scores_by
from bot.analysis.matrix import ComparisonArrays, RatingsMatrix, comparison_arrays, reactions_from_events
from bot.analysis.state import PolisState
from bot.domain.model import STANCE_VOTE
from bot.domain.preferences import ReactionEvent


@dataclass(frozen=True, slots=True)
class CandidateInfo:
    id: int
    scenario_id: int
    label: str  # as members see it, e.g. "S1·A"
    text: str = ""


@dataclass(frozen=True)
class RoundInput:
    round_id: int
    candidates: tuple[CandidateInfo, ...]  # the round's own candidates (not amendment previews), in order
    scenario_titles: dict[int, str]
    events: tuple[ReactionEvent, ...]  # in the order they were recorded
    ticks: tuple[int, ...] = ()  # each event's second (when it was recorded); empty: one tick per event

    @property
    def last_event(self) -> int:
        return max((e.seq for e in self.events), default=0)

    def votes(self) -> Iterator[tuple[str, int, int]]:
        """Stances as Polis votes (participant, statement, tick), in the order they were given."""
        cands = {c.id for c in self.candidates}
        for i, e in enumerate(self.events):
            if not e.removed and e.stance in STANCE_VOTE and e.candidate_id in cands:
                yield e.member, e.candidate_id, self.ticks[i] if self.ticks else e.seq


@dataclass(frozen=True, slots=True)
class ScenarioScores:
    scenario_id: int
    overall: dict[int, float]  # candidate → Bradley-Terry score (mean 0 in the scenario)
    by_group: dict[int, dict[int, float]]  # group (1-based) → candidate → score
    compared: bool  # someone compared candidates of this scenario
    top: int | None  # highest overall score, when it leads by at least TIE
    bridging: int | None  # highest lowest-score across groups, when it leads by at least TIE (needs groups)


TIE = 0.05  # scores closer than this do not make a winner


def _clear_winner(values: dict[int, float], order: list[int]) -> int | None:
    ranked = sorted(order, key=lambda c: (-values[c], order.index(c)))
    if len(ranked) > 1 and values[ranked[0]] - values[ranked[1]] < TIE:
        return None
    return ranked[0] if ranked else None


@dataclass(frozen=True)
class RoundAnalysis:
    input: RoundInput
    matrix: RatingsMatrix  # every member who reacted, in order of arrival
    groups: polis.Groups
    plain: polis.GroupVotes  # everyone: 1 × candidates
    by_group: polis.GroupVotes | None  # groups × candidates, None without groups
    gac: dict[int, float]  # candidate → group-aware consensus of endorsement (empty without groups)
    consensus: list[polis.Consensus]
    divisive: list[tuple[int, float]]
    representative: list[list[polis.Repness]]  # per group (0-based)
    scenarios: list[ScenarioScores]
    bridging: bridging.BridgingFit
    comparisons: int
    members: int = 0
    reactions: int = 0
    notes: list[str] = field(default_factory=list)
    reused: bool = False  # the groups were read back from a state that saw these same reactions

    def info(self, candidate: int) -> CandidateInfo:
        return next(c for c in self.input.candidates if c.id == candidate)

    def column(self, candidate: int) -> int:
        return self.matrix.candidates.index(candidate)


def opinion_groups(inp: RoundInput, m: RatingsMatrix, state: PolisState | None, *, reuse: bool = False) -> polis.Groups:
    """Polis's groups for the round, starting from the previous recomputation's state; reuse: that
    state saw exactly these reactions, so its groups are read back (Polis recomputes on new votes only)."""
    if reuse and state is not None and state.k is not None:
        return polis.groups_from_state(m, state)
    n_statements = int(polis.statement_columns(m).sum())
    history = polis.in_conversation_history(inp.votes(), n_statements=n_statements)
    start = state or PolisState()
    start = replace(start, in_conv=tuple(dict.fromkeys((*start.in_conv, *sorted(history)))))
    return polis.opinion_groups(m, state=start)


def analyse(
    inp: RoundInput, *, state: PolisState | None = None, reuse: bool = False, min_raters: int = bridging.MIN_RATERS
) -> RoundAnalysis:
    # One BLAS thread: the analysis runs on a worker thread beside the bot, and on a busy 2-core
    # machine a second BLAS thread spins more than it helps (the PCA of 10,000 × 200: 0.10 s on one
    # thread, 0.26–0.46 s on two, measured under load)
    with threadpool_limits(limits=1, user_api="blas"):
        return _analyse(inp, state, reuse, min_raters)


def _analyse(inp: RoundInput, state: PolisState | None, reuse: bool, min_raters: int) -> RoundAnalysis:
    cands = tuple(c.id for c in inp.candidates)
    scenario_of = {c.id: c.scenario_id for c in inp.candidates}
    reactions = reactions_from_events(inp.events, cands, scenario_of)
    m = reactions.matrix
    groups = opinion_groups(inp, m, state, reuse=reuse)
    plain = polis.overall_votes(m)
    by_group = polis.group_votes(m, groups) if groups.ok else None
    gac: dict[int, float] = {}
    representative: list[list[polis.Repness]] = []
    divisive: list[tuple[int, float]] = []
    if by_group is not None:
        gac = {c: float(v) for c, v in zip(cands, polis.group_aware_consensus(by_group), strict=True)}
        representative = polis.representative(by_group, cands)
        divisive = polis.divisive(by_group, cands)
    shown: dict[int, list[int]] = {}
    for c in inp.candidates:
        shown.setdefault(c.scenario_id, []).append(c.id)
    comps = comparison_arrays(reactions, shown)
    scen = _scenario_scores(comps, shown, groups)
    fit = bridging.fit(m, min_raters=min_raters)
    return RoundAnalysis(
        inp,
        m,
        groups,
        plain,
        by_group,
        gac,
        polis.consensus(plain, cands),
        divisive,
        representative,
        scen,
        fit,
        len(comps),
        members=len(reactions.members),
        reactions=reactions.reactions,
        reused=reuse and groups.ok,
    )


def _scenario_scores(comps: ComparisonArrays, shown: dict[int, list[int]], groups: polis.Groups) -> list[ScenarioScores]:
    overall = scores_by(comps, shown).get(None, {})
    per_group: dict[int, dict[int, float]] = {}
    if groups.ok:
        member_group = groups.as_dict()
        fitted = scores_by(comps, shown, member_group)
        per_group = {int(g): s for g, s in fitted.items() if isinstance(g, int)}
    compared = set(np.unique(comps.scenario).tolist())
    out: list[ScenarioScores] = []
    for sid, cands in shown.items():
        mine = {c: overall.get(c, 0.0) for c in cands}
        groups_here = {g: {c: s.get(c, 0.0) for c in cands} for g, s in per_group.items()}
        seen = sid in compared
        top = _clear_winner(mine, cands) if seen else None
        bridge = None
        if groups_here and seen:  # the bridging winner (choice.bridging_winner), unless tied
            floors = {c: min(g[c] for g in groups_here.values()) for c in cands}
            bridge = _clear_winner(floors, cands)
        out.append(ScenarioScores(sid, mine, groups_here, seen, top, bridge))
    return out


def endorsement_shares(a: RoundAnalysis) -> tuple[list[str], np.ndarray]:
    """(row names, rows × candidates endorsement share among votes seen) — per group when there are
    groups, otherwise one row for everyone."""
    gv = a.by_group if a.by_group is not None else a.plain
    names = [f"group {g + 1}" for g in range(gv.agree.shape[0])] if a.by_group is not None else ["everyone"]
    shares = np.divide(gv.agree, gv.seen, out=np.zeros(gv.agree.shape), where=gv.seen > 0)
    return names, shares
