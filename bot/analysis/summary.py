"""Per-group summaries in a structured form, for the amendment drafter and the results posts.

    summary = await round_summary(session, round_id)      # REVIEW reactions, as the groups were announced
    summary = summarise(analysis)                         # from an analysis already computed

Every value is a plain number, string or tuple of dataclasses; `RoundSummary.as_dict()` gives JSON.
No member id appears anywhere in a summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analysis.loading import analyse_round
from bot.analysis.pipeline import RoundAnalysis
from bot.analysis.polis import smoothed

EXCERPT = 300  # characters of a candidate's text carried in a summary


@dataclass(frozen=True, slots=True)
class CandidateStance:
    """How a set of members (a group, or everyone) reacts to one candidate."""

    candidate_id: int
    scenario_id: int
    label: str  # "S1·A": scenario 1, candidate A
    excerpt: str
    direction: str  # "endorse" or "object"
    share: float  # Laplace-smoothed share of their votes in that direction, (1 + n) / (2 + votes)
    others_share: float  # the same among everyone else (equal to share for consensus)
    votes: int  # their votes on it, passes included
    significant: bool  # one-sided 90% tests passed (for a group: its share and its difference from the rest, either way)


@dataclass(frozen=True, slots=True)
class GroupSummary:
    group: int  # 1-based, as in the results posts and the bridging tally
    size: int
    stands_for: tuple[CandidateStance, ...]  # most representative first (Polis's repness)


@dataclass(frozen=True, slots=True)
class RoundSummary:
    round_id: int
    groups_found: bool
    reason: str  # why no groups were found (too few members or votes), else ""
    members: int
    groups: tuple[GroupSummary, ...]
    consensus: tuple[CandidateStance, ...]  # endorsed (or objected to) across the board
    divisive: tuple[int, ...]  # candidate ids some group endorses and another objects to
    group_aware_consensus: dict[int, float]  # candidate id → Π over groups of P(endorse)
    top_by_scenario: dict[int, int]  # scenario id → candidate with the best Bradley-Terry score
    bridging_by_scenario: dict[int, int]  # scenario id → candidate with the best lowest score across groups
    bridged: tuple[int, ...]  # candidates the Community Notes model rates helpful across the factor

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _direction(d: str) -> str:
    return "endorse" if d == "agree" else "object"


def summarise(a: RoundAnalysis) -> RoundSummary:
    groups: list[GroupSummary] = []
    if a.by_group is not None:
        gv = a.by_group
        sizes = a.groups.sizes()
        for g, reps in enumerate(a.representative):
            stands: list[CandidateStance] = []
            for r in reps:
                j = a.column(r.candidate)
                counts = gv.agree if r.direction == "agree" else gv.disagree
                rest, rest_seen = counts[:, j].sum() - counts[g, j], gv.seen[:, j].sum() - gv.seen[g, j]
                info = a.info(r.candidate)
                stands.append(
                    CandidateStance(
                        r.candidate,
                        info.scenario_id,
                        info.label,
                        info.text[:EXCERPT],
                        _direction(r.direction),
                        round(float(r.p_success), 4),
                        round(float(smoothed(np.array(rest), np.array(rest_seen))), 4),
                        int(r.n_trials),
                        bool(r.significant),
                    )
                )
            groups.append(GroupSummary(g + 1, sizes[g], tuple(stands)))
    consensus = tuple(
        CandidateStance(
            c.candidate,
            a.info(c.candidate).scenario_id,
            a.info(c.candidate).label,
            a.info(c.candidate).text[:EXCERPT],
            _direction(c.direction),
            round(float(c.p_success), 4),
            round(float(c.p_success), 4),
            int(c.n_trials),
            True,
        )
        for c in a.consensus
    )
    return RoundSummary(
        a.input.round_id,
        a.groups.ok,
        a.groups.reason,
        a.members,
        tuple(groups),
        consensus,
        tuple(int(c) for c, _ in a.divisive),
        {int(c): round(float(v), 6) for c, v in a.gac.items()},
        {int(s.scenario_id): int(s.top) for s in a.scenarios if s.top is not None},
        {int(s.scenario_id): int(s.bridging) for s in a.scenarios if s.bridging is not None},
        tuple(int(c) for c in a.bridging.bridged()),
    )


async def round_summary(session: AsyncSession, round_id: int, *, review_only: bool = True) -> RoundSummary:
    """The round's summary from its REVIEW reactions (review_only=False: every reaction so far)."""
    return summarise(await analyse_round(session, round_id, review_only=review_only))
