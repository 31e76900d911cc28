"""Fixtures of the export tests: an app with an export secret, offline Hugging Face datasets."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from bot.bootstrap import App, bootstrap
from bot.settings import Settings
from storage.database import Database
from tests.support.fakes import FakeChat, FakeGenerator, FixedClock

SECRET = "test-export-secret-0123456789abcdef"

# Nothing in these tests may reach the network: datasets and huggingface_hub stay offline.
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture
async def xapp(database: Database, chat: FakeChat, generator: FakeGenerator, clock: FixedClock) -> AsyncIterator[App]:
    """The app with POLICYBOT_EXPORT_SECRET set (the shared `app` fixture has none)."""
    settings = Settings(database_url=database.url, sampling="independent", max_drafts=0, preview=False, export_secret=SECRET)
    application = bootstrap(settings, chat, generator=generator, clock=clock, database=database)
    yield application
    await application.engine.close()


@pytest.fixture
async def papp(database: Database, chat: FakeChat, generator: FakeGenerator, clock: FixedClock) -> AsyncIterator[App]:
    """The app with an export secret and amendment previews on (the vote regenerates scenarios)."""
    settings = Settings(database_url=database.url, sampling="independent", max_drafts=0, preview=True, export_secret=SECRET)
    application = bootstrap(settings, chat, generator=generator, clock=clock, database=database)
    yield application
    await application.engine.close()
