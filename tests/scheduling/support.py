"""Helpers shared by the scheduling tests: a round opened through the engine, the round row as the
database has it, and posts found by title."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import Turn
from storage.tables import CandidateRow, RoundRow
from tests.support.fakes import FakeChat

POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."


async def open_round(app: App, mod: Actor, policy: str = "kind", **options: Any) -> int:
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, policy, POLICY))).ok
    added = await e.dispatch(c.AddScenario(mod, (Turn("user", f"How do I treat a burn? ({policy})"),)))
    assert added.ok, added.text
    scenario = int(added.text.split("#")[1].split(" ")[0])
    reply = await e.dispatch(c.OpenRound(mod, policy, "general", (scenario,), k=2, **options))
    assert reply.ok, reply.text
    await e.drain()
    return int(reply.text.split("#")[1].split(" ")[0])


async def round_row(app: App, round_id: int) -> RoundRow:
    async with app.engine.services.uow() as uow:
        r = await uow.session.get(RoundRow, round_id)
        assert r is not None
        return r


async def candidates(app: App, round_id: int) -> list[int]:
    async with app.engine.services.uow() as uow:
        rows = await uow.session.exec(
            select(CandidateRow.id).where(CandidateRow.round_id == round_id).order_by(col(CandidateRow.id))
        )
        return [i for i in rows.all() if i is not None]


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def state(app: App) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """Row counts of every table and every round's schedule: 'changes nothing' compares these."""
    counts = {}
    async with app.engine.services.uow() as uow:
        s = uow.session
        for table in SQLModel.metadata.sorted_tables:
            counts[table.name] = (await s.exec(select(func.count()).select_from(table))).one()
        rounds = [
            (r.id, r.phase, utc(r.phase_ends_at), r.paused_remaining_seconds)
            for r in (await s.exec(select(RoundRow).order_by(col(RoundRow.id)))).all()
        ]
    return counts, rounds


async def refused(app: App, cmd: c.Command, match: str) -> None:
    before = await state(app)
    reply = await app.engine.dispatch(cmd)
    await app.engine.drain()
    assert not reply.ok, reply.text
    assert match.lower() in reply.text.lower(), reply.text
    assert await state(app) == before


def titles(chat: FakeChat, part: str) -> list[str]:
    return [chat.posts[k].title for k in chat.order if part in chat.posts[k].title]
