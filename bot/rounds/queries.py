"""Lookups shared by handlers. Each raises CommandError with a clear message when a thing is missing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from fractions import Fraction

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.commands import Actor
from bot.domain.model import AmendmentStatus, AuthorKind, ClauseText, Phase, TallyRule, Turn
from bot.domain.turns import turns_from_json
from bot.errors import CommandError, PhaseChanged
from storage.tables import (
    AmendmentRow,
    BallotEventRow,
    CandidateRow,
    ClauseRow,
    PolicyRow,
    PolicyVersionRow,
    ReactionEventRow,
    RoundRow,
    RoundScenarioRow,
    ScenarioRow,
)
from storage.uow import UnitOfWork


def require_moderator(actor: Actor, what: str) -> None:
    if not actor.is_moderator:
        raise CommandError(f"Only moderators can {what}.")


async def get_policy(s: AsyncSession, community: str, name: str) -> PolicyRow:
    row = (await s.exec(select(PolicyRow).where(PolicyRow.community == community, PolicyRow.name == name))).first()
    if row is None:
        names = (await s.exec(select(PolicyRow.name).where(PolicyRow.community == community))).all()
        known = ", ".join(sorted(names)) or "none yet: create one with /policy create"
        raise CommandError(f"There is no policy named '{name[:64]}' in this community (known: {known}).")
    return row


async def get_version(s: AsyncSession, policy: PolicyRow, version: int | None) -> PolicyVersionRow:
    q = select(PolicyVersionRow).where(PolicyVersionRow.policy_id == policy.id)
    q = q.order_by(col(PolicyVersionRow.version).desc()) if version is None else q.where(PolicyVersionRow.version == version)
    row = (await s.exec(q)).first()
    if row is None:
        latest = (await s.exec(select(func.max(PolicyVersionRow.version)).where(PolicyVersionRow.policy_id == policy.id))).one()
        raise CommandError(f"Policy '{policy.name}' has no version {version}; its versions are 1 to {latest}.")
    return row


async def clauses_of(s: AsyncSession, version_id: int) -> list[ClauseText]:
    rows = (
        await s.exec(select(ClauseRow).where(ClauseRow.policy_version_id == version_id).order_by(col(ClauseRow.position)))
    ).all()
    return [ClauseText(r.position, r.clause_key, r.text) for r in rows]


async def policy_of_version(s: AsyncSession, version_id: int) -> tuple[PolicyRow, PolicyVersionRow]:
    v = await s.get(PolicyVersionRow, version_id)
    assert v is not None
    p = await s.get(PolicyRow, v.policy_id)
    assert p is not None
    return p, v


async def get_round(s: AsyncSession, community: str, round_id: int, *, for_update: bool = False) -> RoundRow:
    q = select(RoundRow).where(RoundRow.id == round_id, RoundRow.community == community)
    if for_update:
        q = q.with_for_update()
    row = (await s.exec(q)).first()
    if row is None:
        raise CommandError(f"There is no round #{round_id} in this community.")
    return row


async def latest_round(s: AsyncSession, community: str) -> RoundRow:
    row = (await s.exec(select(RoundRow).where(RoundRow.community == community).order_by(col(RoundRow.id).desc()))).first()
    if row is None:
        raise CommandError("This community has no round yet: a moderator opens one with /round open.")
    return row


# members' reactions count while a round is open, in every phase until it closes
REACTION_PHASES = (Phase.REVIEW, Phase.AMEND, Phase.VOTE)


@contextlib.asynccontextmanager
async def still_in(
    uow: Callable[[], UnitOfWork], community: str, round_id: int, phase: Phase
) -> AsyncIterator[tuple[UnitOfWork, RoundRow]]:
    """A unit of work on a round that must still be in `phase` (work done in the background, after
    a model call, lands only if the round has not moved on). Raises PhaseChanged otherwise; catch it
    once the unit of work has closed, to tell the member without a transaction open."""
    async with uow() as u:
        r = await get_round(u.session, community, round_id)
        if r.phase != phase.value:
            raise PhaseChanged
        yield u, r


def require_phase(r: RoundRow, allowed: tuple[Phase, ...], doing: str) -> None:
    phase = Phase(r.phase)
    if phase not in allowed:
        want = " or ".join(p.value.upper() for p in allowed)
        raise CommandError(f"Round #{r.id} is in {phase.value.upper()}; you can {doing} only in {want}.")


def scenario_turns(row: ScenarioRow) -> tuple[Turn, ...]:
    return turns_from_json(row.turns_json)


async def round_scenarios(s: AsyncSession, round_id: int) -> list[tuple[RoundScenarioRow, ScenarioRow]]:
    rows = (
        await s.exec(
            select(RoundScenarioRow, ScenarioRow)
            .where(RoundScenarioRow.round_id == round_id, RoundScenarioRow.scenario_id == ScenarioRow.id)
            .order_by(col(RoundScenarioRow.position))
        )
    ).all()
    return [(a, b) for a, b in rows]


async def round_candidates(s: AsyncSession, round_id: int, *, previews: bool = False) -> list[CandidateRow]:
    q = select(CandidateRow).where(CandidateRow.round_id == round_id)
    if not previews:
        q = q.where(col(CandidateRow.amendment_id).is_(None))
    return list((await s.exec(q.order_by(col(CandidateRow.scenario_id), col(CandidateRow.position)))).all())


def scenario_title(row: ScenarioRow, limit: int = 80) -> str:
    if row.title:
        return row.title
    last = scenario_turns(row)[-1].content.replace("\n", " ")
    return last if len(last) <= limit else last[: limit - 1] + "…"


def rule_of(r: RoundRow) -> TallyRule:
    return TallyRule(
        quorum_count=r.quorum_count,
        quorum_share=r.quorum_share,
        threshold=Fraction(r.threshold),
        inclusive=r.threshold_inclusive,
        bridging_min_voters=r.bridging_min_voters,
    )


async def proposed_amendments(s: AsyncSession, round_id: int) -> list[AmendmentRow]:
    return list(
        (
            await s.exec(
                select(AmendmentRow)
                .where(AmendmentRow.round_id == round_id, AmendmentRow.status == AmendmentStatus.PROPOSED.value)
                .order_by(col(AmendmentRow.id))
            )
        ).all()
    )


async def participants(s: AsyncSession, round_id: int) -> int:
    """Members who took part in the round: reacted, proposed or cast a ballot."""
    who: set[str] = set(
        (await s.exec(select(ReactionEventRow.member).where(ReactionEventRow.round_id == round_id).distinct())).all()
    )
    who |= set((await s.exec(select(AmendmentRow.proposed_by).where(AmendmentRow.round_id == round_id).distinct())).all())
    who |= set((await s.exec(select(BallotEventRow.member).where(BallotEventRow.round_id == round_id).distinct())).all())
    return len(who)


async def scenarios_with_candidates(s: AsyncSession, round_id: int) -> set[int]:
    """Scenarios of the round that have the model's candidates (previews aside)."""
    return set(
        (
            await s.exec(
                select(CandidateRow.scenario_id).where(
                    CandidateRow.round_id == round_id,
                    CandidateRow.author_kind == AuthorKind.MODEL.value,
                    col(CandidateRow.amendment_id).is_(None),
                )
            )
        ).all()
    )
