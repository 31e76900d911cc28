"""Fixtures for the Discord adapter: a local fake Discord (REST + gateway) and bots running the
real discord.py client against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from adapters.discord.client import PolicyBot
from adapters.discord.run import Shards, build
from bot.bootstrap import App
from bot.settings import Settings
from storage.database import Database
from tests.discord.fake_discord import FakeDiscord
from tests.support.fakes import FakeGenerator


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    server.install()
    yield server
    server.uninstall()
    await server.stop()


@dataclass
class RunningBot:
    client: PolicyBot
    app: App
    task: asyncio.Task[None]

    async def stop(self) -> None:
        await self.client.close()
        await asyncio.wait_for(self.task, 20)
        await self.app.engine.close()


StartBot = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def start_bot(fake: FakeDiscord, database: Database) -> AsyncIterator[StartBot]:
    """Start a bot process (a fresh client and app on the shared database); all are stopped at the end."""
    running: list[RunningBot] = []
    opened: list[Database] = []

    async def start(
        *,
        generator: FakeGenerator | None = None,
        guild_id: int | None = None,
        shards: Shards | None = None,
        own_database: bool = False,
    ) -> RunningBot:
        """`own_database`: the process's own connections to the same database, as another process has."""
        db = Database(database.url) if own_database else database
        if own_database:
            opened.append(db)
        client, app = build(
            # the fake generator answers one text per call: independent sampling, no background drafting
            Settings(
                database_url=database.url,
                sampling="independent",
                max_drafts=0,
                preview=False,
                export_secret="test-export-secret-0123456789",
                max_response_chars=100_000,  # long candidates kept whole: these tests check Discord's limits
            ),
            guild_id=guild_id,
            shards=shards,
            generator=generator or FakeGenerator(),
            database=db,
            guild_ready_timeout=0.05,
        )
        task = asyncio.create_task(client.start("MTMwMDAwMDAwMDAwMDAwMDAwMA.fake.token"))
        await asyncio.wait_for(client.wait_until_ready(), 20)
        bot = RunningBot(client, app, task)
        running.append(bot)
        return bot

    yield start
    for bot in running:
        if not bot.client.is_closed():
            await bot.stop()
    for db in opened:
        await db.dispose()
