"""Fixtures for generation tests: the app as bootstrap() builds it (real litellm Router, on a worker
thread here) against the local OpenAI-compatible server, and a reply function that answers each of our
request kinds well-formed unless a test says otherwise."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.bootstrap import App, bootstrap
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import Turn
from bot.settings import Settings
from storage.database import Database
from tests.support.fakes import FakeChat, FixedClock
from tests.support.openai_server import FakeOpenAIServer

POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."
MakeApp = Callable[..., Awaitable[App]]

_MANY = re.compile(r'exactly (\d+) items under "(\w+)"')


def system_of(body: dict[str, Any]) -> str:
    return " ".join(str(m["content"]) for m in body["messages"] if m["role"] == "system")


def user_of(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


def responses_json(k: int, tag: str = "") -> str:
    voices = [
        "Run the burn under cool water for twenty minutes and cover it loosely.",
        "I cannot give medical advice; please see a doctor or pharmacist.",
        "Small burns usually heal alone, but watch for blisters and infection signs.",
        "Here is what first-aid guides say, with sources you can check yourself.",
        "Coffee in moderation is fine for most adults, studies suggest.",
        "Ask your physician; individual health varies too much to say.",
    ]
    return json.dumps({"responses": [{"stance": f"s{i}", "text": f"{voices[i % len(voices)]} {tag}{i}"} for i in range(k)]})


def well_formed(body: dict[str, Any]) -> str:
    """Our three request kinds, answered in the format each asks for."""
    system = system_of(body)
    m = _MANY.search(system)
    if m and m.group(2) == "responses":
        return responses_json(int(m.group(1)), f"(about {zlib.crc32(user_of(body).encode()) % 10_000}) ")
    if m and m.group(2) == "cases":
        n = int(m.group(1))
        kinds = [k for k in ("loophole", "over-reach", "unclear") if k in system.split("Each item is")[-1]]
        return json.dumps(
            {
                "cases": [
                    {
                        "kind": kinds[i % len(kinds)],
                        "clause": 3,
                        "prompt": f"Case {i}: my friend burned a hand, what now?",
                        "why": "tests 3",
                    }
                    for i in range(n)
                ]
            }
        )
    if '"amendments"' in system:
        ids = [int(x) for x in re.findall(r'"id": (\d+)', user_of(body))]
        return json.dumps(
            {
                "amendments": [
                    {
                        "kind": "replace",
                        "clause": 3,
                        "text": "Give general first-aid information and suggest seeing a doctor.",
                        "rationale": "Members endorsed first-aid answers the clause forbids.",
                        "evidence": ids[:2],
                    },
                    {"kind": "add", "clause": None, "text": "Cite a source.", "rationale": "x", "evidence": [999999]},
                ]
            }
        )
    return f"Plain answer to: {user_of(body)[:40]}"


@pytest.fixture
def llm_settings(database: Database, openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
    openai_server.behaviour.reply = well_formed

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database.url,
            "model": "openai/test-model",
            "llm_api_base": openai_server.api_base,
            "llm_timeout": 30.0,  # generous: a loaded machine must not turn into a retry that tests count
            "llm_retries": 1,
            "max_drafts": 0,
            "preview": False,
            # litellm on a thread: a child process per test would cost ~2 s each; test_llm_process.py
            # runs the child process (the default) through the same round
            "llm_worker": "thread",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def make_app(
    database: Database, chat: FakeChat, clock: FixedClock, llm_settings: Callable[..., Settings]
) -> AsyncIterator[MakeApp]:
    apps: list[App] = []

    async def make(database_: Database | None = None, **overrides: Any) -> App:
        app = bootstrap(llm_settings(**overrides), chat, clock=clock, database=database_ or database)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.engine.close()
        generator = app.engine.services.generator
        close = getattr(generator, "close", None)
        if close is not None:
            close()


async def open_round(
    app: App, mod: Actor, prompts: tuple[str, ...] = ("How do I treat a burn?", "Is coffee healthy?"), k: int = 4
) -> str:
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", POLICY))).ok
    for p in prompts:
        assert (await e.dispatch(c.AddScenario(mod, (Turn("user", p),)))).ok
    reply = await e.dispatch(c.OpenRound(mod, "kind", "general", tuple(range(1, len(prompts) + 1)), k=k))
    assert reply.ok, reply.text
    await e.drain()
    return reply.text
