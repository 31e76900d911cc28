"""Fixtures of the erasure tests: the app as bootstrap() builds it, with the real litellm Router
calling the local OpenAI-compatible server (which echoes what it is given), drafts and previews on."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from bot.bootstrap import App, bootstrap
from bot.settings import Settings
from storage.database import Database
from tests.privacy.support import reply_to
from tests.support.fakes import FakeChat, FixedClock
from tests.support.openai_server import FakeOpenAIServer

SECRET = "test-export-secret-0123456789abcdef"

os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture
async def echo_app(
    database: Database, chat: FakeChat, clock: FixedClock, openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[App]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
    openai_server.behaviour.reply = reply_to
    settings = Settings(
        database_url=database.url,
        model="openai/test-model",
        llm_api_base=openai_server.api_base,
        llm_timeout=30.0,
        llm_retries=1,
        llm_worker="thread",  # litellm on a thread: a child process per test costs seconds
        max_drafts=1,
        preview=True,
        preview_scenarios=2,
        export_secret=SECRET,
    )
    app = bootstrap(settings, chat, clock=clock, database=database)
    yield app
    await app.engine.close()
    close = getattr(app.engine.services.generator, "close", None)
    if close is not None:
        close()
