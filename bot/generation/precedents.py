"""Precedents: the scenarios on which a closed round's community reached a verdict, kept so that later
amendments and versions can be held against them (case-based policy work: PolicyCraft; case law
grounding, Chen & Zhang 2023).

The verdict rule (RULE), from the consensus rules of the analysis (Polis, ALGORITHMS.md), nothing tuned:
- "answers like this": candidates endorsed by consensus, p = (1 + endorse) / (2 + votes) > 1/2 and
  z = 2·sqrt(n+1)·((endorse+1)/(n+1) − 1/2) > 1.2816 (one-sided 90%) over everyone who voted on
  them, passes counted as votes; when a scenario has none, its bridging pick (the candidate whose
  lowest Bradley-Terry score across opinion groups is highest, with a clear lead);
- "not like this": candidates objected to by consensus (the same test on objections);
- a candidate counts only on at least MIN_REACTORS (3) votes, in a round where at least MIN_REACTORS
  members reacted (the bar below which the results posts show nothing), and never when it divides the
  opinion groups (some group significantly endorses it while another significantly objects);
- a scenario with at least one such candidate is a precedent. Its support (the order in which
  precedents are checked) is the most votes behind any one of its verdicts.

Recording runs after a round closes (`record_round`); `ensure_recorded` catches up on closed rounds
not recorded yet (a restart between the close and the recording, or rounds closed before precedents
existed), so every reader of precedents sees them all."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import Phase, Turn
from bot.rounds.queries import policy_of_version, scenario_title, scenario_turns
from bot.services import Services
from storage.tables import (
    CandidateRow,
    PolicyVersionRow,
    PrecedentAnswerRow,
    PrecedentRoundRow,
    PrecedentRow,
    RoundRow,
    ScenarioRow,
)

if TYPE_CHECKING:
    from bot.analysis.pipeline import RoundAnalysis

log = logging.getLogger("policybot.precedents")

RULE = "consensus-v1"
LIKE, UNLIKE = "like", "unlike"
CONSENSUS, BRIDGING = "consensus", "bridging"
ACTIVE, RETIRED = "active", "retired"


@dataclass(frozen=True, slots=True)
class VerdictAnswer:
    candidate_id: int
    verdict: str  # LIKE or UNLIKE
    basis: str  # CONSENSUS or BRIDGING
    endorsements: int
    objections: int
    passes: int
    share: float  # smoothed share of the votes in the verdict's direction (0 for a bridging pick)
    z: float
    groups: dict[int, dict[str, int]] = field(default_factory=dict)  # group (1-based) → counts

    @property
    def support(self) -> int:
        return self.objections if self.verdict == UNLIKE else self.endorsements


@dataclass(frozen=True, slots=True)
class Verdict:
    scenario_id: int
    answers: tuple[VerdictAnswer, ...]

    @property
    def support(self) -> int:
        return max((a.support for a in self.answers), default=0)


def _counts(a: RoundAnalysis, candidate: int) -> tuple[int, int, int, dict[int, dict[str, int]]]:
    """(endorse, object, pass) overall, and the same per opinion group, of one candidate."""
    j = a.column(candidate)
    agree, disagree, seen = (int(x[0, j]) for x in (a.plain.agree, a.plain.disagree, a.plain.seen))
    groups: dict[int, dict[str, int]] = {}
    if a.by_group is not None:
        gv = a.by_group
        for g in range(gv.agree.shape[0]):
            ga, gd, gs = int(gv.agree[g, j]), int(gv.disagree[g, j]), int(gv.seen[g, j])
            groups[g + 1] = {"endorse": ga, "object": gd, "pass": gs - ga - gd}
    return agree, disagree, seen - agree - disagree, groups


def verdicts(a: RoundAnalysis) -> list[Verdict]:
    """The scenarios of an analysed round on which the community reached a verdict (see RULE above)."""
    from bot.analysis.results import MIN_REACTORS  # the results' bar; loaded with the analysis

    if a.members < MIN_REACTORS:
        return []
    divisive = {c for c, _ in a.divisive}
    scenario_of = {c.id: c.scenario_id for c in a.input.candidates}
    found: dict[int, list[VerdictAnswer]] = {}
    for c in a.consensus:
        if c.candidate in divisive or c.n_trials < MIN_REACTORS or c.candidate not in scenario_of:
            continue
        e, o, p, groups = _counts(a, c.candidate)
        verdict = LIKE if c.direction == "agree" else UNLIKE
        answer = VerdictAnswer(c.candidate, verdict, CONSENSUS, e, o, p, round(c.p_success, 4), round(c.p_test, 4), groups)
        found.setdefault(scenario_of[c.candidate], []).append(answer)
    for sc in a.scenarios:
        answers = found.get(sc.scenario_id, [])
        pick = sc.bridging
        if pick is None or pick in divisive or any(x.verdict == LIKE for x in answers):
            continue
        if any(x.candidate_id == pick for x in answers):  # objected to by consensus: no bridging pick
            continue
        e, o, p, groups = _counts(a, pick)
        found.setdefault(sc.scenario_id, []).append(VerdictAnswer(pick, LIKE, BRIDGING, e, o, p, 0.0, 0.0, groups))
    order = [c.id for c in a.input.candidates]
    return [
        Verdict(sid, tuple(sorted(answers, key=lambda x: (x.verdict != LIKE, order.index(x.candidate_id)))))
        for sid, answers in sorted(found.items())
    ]


def evidence_of(a: RoundAnalysis) -> dict[str, object]:
    """What a precedent keeps about the round it came from: aggregates only, never a member."""
    groups: dict[str, object] = {"found": a.groups.ok, "reason": a.groups.reason}
    if a.groups.ok:
        groups["sizes"] = {str(g + 1): n for g, n in enumerate(a.groups.sizes())}
    return {"members": a.members, "reactions": a.reactions, "opinion_groups": groups, "rule": RULE}


# ---------------------------------------------------------------- recording


async def _recorded(s: AsyncSession, round_id: int) -> bool:
    return (await s.exec(select(PrecedentRoundRow.id).where(PrecedentRoundRow.round_id == round_id))).first() is not None


async def record_round(svc: Services, round_id: int) -> int | None:
    """Record the precedents of a closed round, once; the number recorded, or None when the round is
    not closed, was recorded already (here or by another process) or could not be analysed."""
    from bot.analysis.loading import analyse_round  # numpy and scikit-learn: loaded only when needed

    async with svc.uow() as uow:
        s = uow.session
        r = await s.get(RoundRow, round_id)
        if r is None or r.phase != Phase.CLOSED.value or await _recorded(s, round_id):
            return None
        policy, _ = await policy_of_version(s, r.policy_version_id)
        try:  # every reaction until the close, as the final results count them
            a = await analyse_round(s, round_id, review_only=False)
        except Exception:
            log.exception("round %s: the analysis failed; its precedents are recorded on the next try", round_id)
            return None
    found = verdicts(a)
    try:
        await _write(svc, r, policy.id or 0, found, evidence_of(a), a.members)
    except IntegrityError:  # recorded meanwhile by another task or process
        return None
    log.info("round %s: %d precedent(s) recorded", round_id, len(found))
    return len(found)


async def _write(
    svc: Services, r: RoundRow, policy_id: int, found: list[Verdict], evidence: dict[str, object], members: int
) -> None:
    """The round's marker and its precedents, in one transaction (IntegrityError: recorded already)."""
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        s.add(PrecedentRoundRow(round_id=r.id or 0, policy_id=policy_id, precedents=len(found), recorded_at=now))
        await s.flush()  # the marker first: a second recording of the round stops here
        for v in found:
            row = PrecedentRow(
                community=r.community,
                policy_id=policy_id,
                policy_version_id=r.policy_version_id,
                round_id=r.id or 0,
                scenario_id=v.scenario_id,
                support=v.support,
                members=members,
                evidence_json=json.dumps(evidence, sort_keys=True),
                rule=RULE,
                status=ACTIVE,
                created_at=now,
            )
            s.add(row)
            await s.flush()
            s.add_all(_answer_row(row.id or 0, x) for x in v.answers)
        await uow.commit()


def _answer_row(precedent_id: int, x: VerdictAnswer) -> PrecedentAnswerRow:
    return PrecedentAnswerRow(
        precedent_id=precedent_id,
        candidate_id=x.candidate_id,
        verdict=x.verdict,
        basis=x.basis,
        endorsements=x.endorsements,
        objections=x.objections,
        passes=x.passes,
        share=x.share,
        z=x.z,
        groups_json=json.dumps({str(g): c for g, c in x.groups.items()}, sort_keys=True),
    )


async def unrecorded_rounds(s: AsyncSession, policy_id: int) -> list[int]:
    """Closed rounds of the policy whose precedents are not recorded yet."""
    versions = select(PolicyVersionRow.id).where(PolicyVersionRow.policy_id == policy_id)
    done = select(PrecedentRoundRow.round_id)
    rows = await s.exec(
        select(RoundRow.id)
        .where(
            RoundRow.phase == Phase.CLOSED.value,
            col(RoundRow.policy_version_id).in_(versions),
            col(RoundRow.id).not_in(done),
        )
        .order_by(col(RoundRow.id))
    )
    return [x for x in rows.all() if x is not None]


async def ensure_recorded(svc: Services, policy_id: int) -> None:
    """Record every closed round of the policy that is not recorded yet (usually none: one query)."""
    async with svc.uow() as uow:
        missing = await unrecorded_rounds(uow.session, policy_id)
    for round_id in missing:
        await record_round(svc, round_id)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class PrecedentCase:
    """A precedent as the checks need it: its conversation and the texts of its verdicts."""

    id: int
    scenario_id: int
    title: str
    turns: tuple[Turn, ...]
    like: tuple[str, ...]
    unlike: tuple[str, ...]
    authors: tuple[str, ...] = ()  # members whose words it carries: the scenario's, and written answers'


async def counts(s: AsyncSession, policy_id: int) -> tuple[int, int]:
    """(active, retired) precedents of a policy."""
    rows = (
        await s.exec(
            select(PrecedentRow.status, func.count()).where(PrecedentRow.policy_id == policy_id).group_by(PrecedentRow.status)
        )
    ).all()
    by = {status: n for status, n in rows}
    return by.get(ACTIVE, 0), by.get(RETIRED, 0)


async def answers_of(s: AsyncSession, precedent_ids: list[int]) -> dict[int, list[tuple[PrecedentAnswerRow, CandidateRow]]]:
    rows = (
        await s.exec(
            select(PrecedentAnswerRow, CandidateRow)
            .where(col(PrecedentAnswerRow.precedent_id).in_(precedent_ids), PrecedentAnswerRow.candidate_id == CandidateRow.id)
            .order_by(col(PrecedentAnswerRow.id))
        )
    ).all()
    out: dict[int, list[tuple[PrecedentAnswerRow, CandidateRow]]] = {}
    for answer, candidate in rows:
        out.setdefault(answer.precedent_id, []).append((answer, candidate))
    return out


async def cases_to_check(s: AsyncSession, policy_id: int, limit: int) -> list[PrecedentCase]:
    """The policy's active precedents, most supported first (the newest first among equals), up to
    `limit`; a precedent whose answers were all erased has nothing to compare with and is left out."""
    if limit <= 0:
        return []
    rows = (
        await s.exec(
            select(PrecedentRow, ScenarioRow)
            .where(
                PrecedentRow.policy_id == policy_id,
                PrecedentRow.status == ACTIVE,
                PrecedentRow.scenario_id == ScenarioRow.id,
            )
            .order_by(col(PrecedentRow.support).desc(), col(PrecedentRow.id).desc())
        )
    ).all()
    answers = await answers_of(s, [p.id or 0 for p, _ in rows])
    out: list[PrecedentCase] = []
    for p, sc in rows:
        mine = answers.get(p.id or 0, [])
        like = tuple(c.text for a, c in mine if a.verdict == LIKE and c.text.strip())
        unlike = tuple(c.text for a, c in mine if a.verdict == UNLIKE and c.text.strip())
        if like or unlike:
            authors = tuple(sorted({sc.created_by} | {c.author_member for _, c in mine if c.author_member}))
            out.append(PrecedentCase(p.id or 0, sc.id or 0, scenario_title(sc), scenario_turns(sc), like, unlike, authors))
        if len(out) >= limit:
            break
    return out


async def has_precedents(s: AsyncSession, policy_id: int) -> bool:
    """Whether checks against the policy's precedents can find anything: an active precedent, or a
    closed round whose precedents are not recorded yet."""
    active = (
        await s.exec(select(PrecedentRow.id).where(PrecedentRow.policy_id == policy_id, PrecedentRow.status == ACTIVE))
    ).first()
    return active is not None or bool(await unrecorded_rounds(s, policy_id))
