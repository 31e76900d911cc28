"""A round whose generation was cut short by a stop is generated again on start-up, once."""

from __future__ import annotations

import asyncio

from sqlmodel import func, select

from bot.bootstrap import bootstrap
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import Turn
from bot.scheduler import RoundScheduler
from bot.settings import Settings
from storage.database import Database
from storage.tables import CandidateRow, RoundRow
from tests.support.fakes import FakeChat, FakeGenerator


class HangingGenerator(FakeGenerator):
    """Never answers: the process is stopped while waiting on the model."""

    async def complete(self, prompt):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def settings(url: str) -> Settings:
    return Settings(database_url=url, sampling="independent", max_drafts=0, preview=False)


async def test_round_left_opening_is_generated_again_on_start(database: Database, mod: Actor) -> None:
    first = bootstrap(settings(database.url), FakeChat(), generator=HangingGenerator(), database=database)
    e = first.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", "1. Be kind."))).ok
    assert (await e.dispatch(c.AddScenario(mod, (Turn("user", "Hello?"),)))).ok
    assert (await e.dispatch(c.OpenRound(mod, "kind", "general", (1,), k=2))).ok
    await asyncio.sleep(0.05)
    for task in list(first.engine.services._tasks):  # the process stops mid-generation
        task.cancel()
    await asyncio.gather(*first.engine.services._tasks, return_exceptions=True)
    await first.engine.services.recorder.close()
    async with first.engine.services.uow() as uow:
        assert (await uow.session.exec(select(RoundRow.phase))).one() == "opening"

    chat, generator = FakeChat(), FakeGenerator()
    second = bootstrap(settings(database.url), chat, generator=generator, database=Database(database.url))
    scheduler = second.scheduler
    await scheduler.start()
    await second.engine.drain()
    try:
        async with second.engine.services.uow() as uow:
            assert (await uow.session.exec(select(RoundRow.phase))).one() == "review"
            assert (await uow.session.exec(select(func.count()).select_from(CandidateRow))).one() == 2
        assert len(chat.keys_of("candidate")) == 2
        assert any("open for review" in reply.text for _, reply in chat.private)
        calls = len(generator.calls)
        again = RoundScheduler(second.engine.services)  # a later start finds nothing left to resume
        await again.start()
        await second.engine.drain()
        assert len(generator.calls) == calls
        await again.stop()
    finally:
        await scheduler.stop()
        await second.close()
