"""Two bot processes (two bootstrap() apps with their own connections and chats) on one database
reach the same deadlines at once: every transition and every reminder happens exactly once.
Run on PostgreSQL with POLICYBOT_TEST_DATABASE_URL set (and on SQLite always)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.bootstrap import App, bootstrap
from bot.domain.model import Phase
from bot.rounds.lifecycle import advance
from bot.scheduler import RoundScheduler
from bot.settings import Settings
from storage.database import Database
from storage.tables import ReminderSentRow, RoundRow
from tests.conftest import actor
from tests.scheduling.support import open_round, titles
from tests.support.fakes import FakeChat, FakeGenerator, FixedClock

ROUNDS = 4


@pytest.fixture
async def pair(database_url: str, clock: FixedClock) -> AsyncIterator[tuple[App, App, FakeChat, FakeChat]]:
    chats = (FakeChat(), FakeChat())
    apps = [
        bootstrap(
            Settings(database_url=database_url, sampling="independent", max_drafts=0, preview=False),
            chat,
            generator=FakeGenerator(),
            clock=clock,
            database=Database(database_url),
        )
        for chat in chats
    ]
    yield apps[0], apps[1], chats[0], chats[1]
    for a in apps:
        await a.close()


async def phases(app: App) -> list[str]:
    async with app.engine.services.uow() as uow:
        return list((await uow.session.exec(select(RoundRow.phase).order_by(RoundRow.id))).all())  # type: ignore[arg-type]


async def test_two_processes_race_for_every_deadline(pair: tuple[App, App, FakeChat, FakeChat], clock: FixedClock) -> None:
    one, two, chat1, chat2 = pair
    mod = actor("mod", moderator=True)
    t0 = clock.now()
    ids = [await open_round(one, mod, policy=f"p{i}") for i in range(ROUNDS)]
    first = RoundScheduler(one.engine.services, poll_seconds=3600, reminder_offsets=(3600,))
    second = RoundScheduler(two.engine.services, poll_seconds=3600, reminder_offsets=(3600,))

    async def race() -> tuple[int, int]:
        a, b = await asyncio.gather(first.reconcile_all(), second.reconcile_all())
        await asyncio.gather(one.engine.drain(), two.engine.drain())
        return len(a), len(b)

    def both(part: str) -> list[str]:
        return titles(chat1, part) + titles(chat2, part)

    clock.moment = t0 + timedelta(hours=47, minutes=30)  # each REVIEW's 1h reminder is due
    assert sum(await race()) == ROUNDS
    reminded = both("the review ends")
    assert sorted(t.split(":")[0] for t in reminded) == [f"Round #{i}" for i in ids]  # each round's reminder, once

    clock.moment = t0 + timedelta(hours=48)  # every REVIEW deadline
    assert sum(await race()) == ROUNDS
    assert len(both("amendments are open")) == ROUNDS
    assert await phases(one) == ["amend"] * ROUNDS

    clock.moment = t0 + timedelta(hours=72)  # AMEND with no amendment: each round closes early, once
    assert sum(await race()) == ROUNDS
    closed = [p for p in (*chat1.posts.values(), *chat2.posts.values()) if p.title.endswith("closed")]
    assert len(closed) == ROUNDS and all("no amendment was proposed" in p.text for p in closed)
    assert await phases(two) == ["closed"] * ROUNDS
    assert sum(await race()) == 0

    async with one.engine.services.uow() as uow:
        assert (await uow.session.exec(select(func.count()).select_from(ReminderSentRow))).one() == ROUNDS
    assert ids == list(range(1, ROUNDS + 1))


async def test_the_same_transition_from_two_processes_happens_once(
    pair: tuple[App, App, FakeChat, FakeChat], clock: FixedClock
) -> None:
    one, two, chat1, chat2 = pair
    mod = actor("mod", moderator=True)
    rid = await open_round(one, mod)
    clock.moment += timedelta(hours=48)
    for _ in range(3):  # late and repeated wake-ups, from both processes at once
        results = await asyncio.gather(
            advance(one.engine.services, rid, Phase.REVIEW, due_by=clock.now()),
            advance(two.engine.services, rid, Phase.REVIEW, due_by=clock.now()),
        )
        assert sum(r.changed for r in results) <= 1
    assert await phases(one) == ["amend"]
    assert len(titles(chat1, "amendments are open") + titles(chat2, "amendments are open")) == 1
    # a wake-up for a deadline that has not come (a stale job after an extension) changes nothing
    stale = await advance(two.engine.services, rid, Phase.AMEND, due_by=clock.now())
    assert not stale.changed and await phases(two) == ["amend"]
