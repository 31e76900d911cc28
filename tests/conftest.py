"""Shared fixtures: databases (SQLite always; PostgreSQL when POLICYBOT_TEST_DATABASE_URL is set),
the app wired with fakes of our ports, and a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.bootstrap import App, bootstrap
from bot.domain.commands import Actor
from bot.settings import Settings
from storage.database import Database, async_url
from storage.migrate import upgrade_async
from tests.support.fakes import FakeChat, FakeGenerator, FixedClock
from tests.support.openai_server import FakeOpenAIServer

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PG_URL = os.environ.get("POLICYBOT_TEST_DATABASE_URL")


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str | None]:
    """A private PostgreSQL database for this test run, so parallel runs do not collide."""
    if not PG_URL:
        yield None
        return
    name = f"policybot_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(PG_URL, f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, pg_database_url: str | None) -> AsyncIterator[str]:
    """A migrated, empty database: a fresh SQLite file, or the PostgreSQL test database emptied."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'policybot.db'}"
    else:
        if pg_database_url is None:
            pytest.skip("PostgreSQL: set POLICYBOT_TEST_DATABASE_URL to run the storage tests on it too")
        url = pg_database_url
        engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await upgrade_async(url)
    yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def chat() -> FakeChat:
    return FakeChat()


@pytest.fixture
def generator() -> FakeGenerator:
    return FakeGenerator()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def app(database: Database, chat: FakeChat, generator: FakeGenerator, clock: FixedClock) -> AsyncIterator[App]:
    # The fake generator answers one text per call: independent sampling, and no background drafting
    # or previews, so core tests count calls and amendment ids exactly (tests/generation covers those).
    settings = Settings(database_url=database.url, sampling="independent", max_drafts=0, preview=False)
    application = bootstrap(settings, chat, generator=generator, clock=clock, database=database)
    yield application
    await application.engine.close()


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    await server.start()
    yield server
    await server.stop()


def actor(member: str = "mod", *, moderator: bool = False, community: str = "guild-1") -> Actor:
    return Actor("test", community, member, member.title(), moderator)


@pytest.fixture
def mod() -> Actor:
    return actor("mod", moderator=True)
