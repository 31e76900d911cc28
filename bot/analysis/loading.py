"""Reading a round's candidates and reaction events from the database, and running the analysis off
the event loop (it is CPU work: a thread keeps the bot answering meanwhile).

REVIEW reactions: when a round leaves REVIEW, `mark_review_end` records the last reaction event id;
the opinion groups (announced in the REVIEW results, used by the bridging tally and the drafter) are
computed from the events up to it and kept as announced (bot.analysis.state, stage "review"). Before
that mark exists, every event counts.

Each recomputation starts from what the previous one kept (stage "live"), as Polis's does; asked
again with no new reaction, the groups are read back instead of recomputed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analysis.pipeline import CandidateInfo, RoundAnalysis, RoundInput, analyse
from bot.analysis.state import LIVE, REVIEW, PolisState, StoredState, keep_state, stored_state
from bot.domain.model import Stance, aware
from bot.domain.preferences import ReactionEvent
from bot.rounds.posts import label
from bot.rounds.queries import round_candidates, round_scenarios
from storage.tables import ReactionEventRow, RoundAnalysisRow
from storage.uow import UnitOfWork


async def review_mark(s: AsyncSession, round_id: int) -> RoundAnalysisRow | None:
    return (await s.exec(select(RoundAnalysisRow).where(RoundAnalysisRow.round_id == round_id))).first()


async def mark_review_end(s: AsyncSession, round_id: int, now: datetime) -> RoundAnalysisRow:
    """Idempotent: the first mark stays (a transition out of REVIEW happens once)."""
    existing = await review_mark(s, round_id)
    if existing is not None:
        return existing
    last = (await s.exec(select(func.max(ReactionEventRow.id)).where(ReactionEventRow.round_id == round_id))).one()
    row = RoundAnalysisRow(round_id=round_id, review_event_id=int(last or 0), k=0, computed_at=now)
    s.add(row)
    try:
        await s.flush()
    except IntegrityError:  # marked concurrently
        await s.rollback()
        found = await review_mark(s, round_id)
        assert found is not None
        return found
    return row


async def load_input(s: AsyncSession, round_id: int, *, review_only: bool) -> RoundInput:
    scen = await round_scenarios(s, round_id)
    position = {rs.scenario_id: rs.position for rs, _ in scen}
    titles = {sc.id or 0: sc.title for _, sc in scen}
    rows = await round_candidates(s, round_id)
    rows = sorted(rows, key=lambda c: (position.get(c.scenario_id, 0), c.position, c.id or 0))
    cands = tuple(
        CandidateInfo(c.id or 0, c.scenario_id, f"S{position.get(c.scenario_id, 0) + 1}·{label(c.position)}", c.text)
        for c in rows
    )
    q = select(ReactionEventRow).where(
        ReactionEventRow.round_id == round_id, col(ReactionEventRow.candidate_id).in_([c.id for c in cands])
    )
    if review_only:
        mark = await review_mark(s, round_id)
        if mark is not None:
            q = q.where(col(ReactionEventRow.id) <= mark.review_event_id)
    rows_ = (await s.exec(q.order_by(col(ReactionEventRow.id)))).all()
    events = tuple(
        ReactionEvent(e.id or 0, e.member, e.candidate_id, Stance(e.stance), e.action == "remove", e.reason) for e in rows_
    )
    ticks = tuple(int(at.timestamp()) if (at := aware(e.at)) is not None else 0 for e in rows_)
    return RoundInput(round_id, cands, titles, events, ticks)


@dataclass(frozen=True)
class Prepared:
    """What one analysis starts from: the round's input and the state of the previous recomputation
    (reuse: that state saw exactly these reactions, so its groups are read back)."""

    input: RoundInput
    state: PolisState | None
    reuse: bool


async def load_for_analysis(s: AsyncSession, round_id: int, *, review_only: bool) -> Prepared:
    inp = await load_input(s, round_id, review_only=review_only)
    if review_only and (review := await stored_state(s, round_id, REVIEW)) is not None:
        return Prepared(inp, review.state, True)
    live = await stored_state(s, round_id, LIVE)
    if live is None:
        return Prepared(inp, None, False)
    return Prepared(inp, live.state, live.event_id == inp.last_event)


async def compute(p: Prepared) -> RoundAnalysis:
    """The analysis in a worker thread; call it with no transaction open where possible."""
    return await asyncio.to_thread(analyse, p.input, state=p.state, reuse=p.reuse)


async def keep(uow: Callable[[], UnitOfWork], a: RoundAnalysis, now: datetime, *, review: bool = False) -> None:
    """Stores what the next recomputation starts from (and, at the end of REVIEW, the groups as announced)."""
    if a.groups.state is None:
        return
    kept = StoredState(a.groups.state, a.input.last_event)
    async with uow() as u:
        if not a.reused:
            await keep_state(u.session, a.input.round_id, LIVE, kept, now)
        if review:
            await keep_state(u.session, a.input.round_id, REVIEW, kept, now)
        await u.commit()


async def analyse_round(s: AsyncSession, round_id: int, *, review_only: bool) -> RoundAnalysis:
    return await compute(await load_for_analysis(s, round_id, review_only=review_only))


async def opinion_groups(s: AsyncSession, round_id: int) -> dict[str, int]:
    """Services.opinion_groups: member → group (1-based) from the round's REVIEW reactions, as
    announced when REVIEW closed; empty when the round has too few members to separate groups."""
    a = await analyse_round(s, round_id, review_only=True)
    return a.groups.as_dict()
