"""Reading a round's candidates and reaction events from the database, and running the analysis off
the event loop (it is CPU work: a thread keeps the bot answering meanwhile).

REVIEW reactions: when a round leaves REVIEW, `mark_review_end` records the last reaction event id;
the opinion groups (announced in the REVIEW results, used by the bridging tally and the drafter) are
computed from the events up to it. Before that mark exists, every event counts."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analysis.pipeline import CandidateInfo, RoundAnalysis, RoundInput, analyse
from bot.domain.model import Stance
from bot.domain.preferences import ReactionEvent
from bot.rounds.posts import label
from bot.rounds.queries import round_candidates, round_scenarios
from storage.tables import ReactionEventRow, RoundAnalysisRow


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
    events = tuple(
        ReactionEvent(e.id or 0, e.member, e.candidate_id, Stance(e.stance), e.action == "remove", e.reason)
        for e in (await s.exec(q.order_by(col(ReactionEventRow.id)))).all()
    )
    return RoundInput(round_id, cands, titles, events)


async def load_for_analysis(s: AsyncSession, round_id: int, *, review_only: bool) -> tuple[RoundInput, int | None]:
    """The round's input and the k to keep unless a new one wins clearly (for the final results)."""
    inp = await load_input(s, round_id, review_only=review_only)
    mark = await review_mark(s, round_id)
    previous_k = mark.k if mark is not None and mark.k and not review_only else None
    return inp, previous_k


async def compute(inp: RoundInput, previous_k: int | None) -> RoundAnalysis:
    """The analysis in a worker thread; call it with no transaction open where possible."""
    return await asyncio.to_thread(analyse, inp, previous_k=previous_k)


async def analyse_round(s: AsyncSession, round_id: int, *, review_only: bool) -> RoundAnalysis:
    return await compute(*await load_for_analysis(s, round_id, review_only=review_only))


async def opinion_groups(s: AsyncSession, round_id: int) -> dict[str, int]:
    """Services.opinion_groups: member → group (1-based) from the round's REVIEW reactions; empty
    when the round has too few members to separate groups."""
    a = await analyse_round(s, round_id, review_only=True)
    return a.groups.as_dict()
