"""The conformance scenario through the console adapter."""

from __future__ import annotations

import io
import uuid

from adapters.console.chat import ConsoleChat, render_post
from adapters.console.repl import ConsoleSession
from bot.bootstrap import App, bootstrap
from bot.domain.model import Stance
from bot.settings import Settings
from storage.database import Database
from tests.conformance.buttons import StressCaseGenerator
from tests.conformance.precedents import run_precedent_conformance
from tests.conformance.scenario import run_conformance
from tests.support.fakes import FakeGenerator


class ConsoleDriver:
    def __init__(self, app: App, chat: ConsoleChat, session: ConsoleSession) -> None:
        self.app = app
        self.chat = chat
        self.session = session

    async def command(self, member: str, text: str, *, moderator: bool = False) -> str:
        reply = await self.session.handle_line(f"{member}{'*' if moderator else ''}> {text}")
        assert reply is not None
        return reply

    async def react(
        self, member: str, candidate_id: int, stance: Stance, *, remove: bool = False, duplicate: bool = False
    ) -> None:
        key = f"console:{uuid.uuid4()}"
        verb = "/unreact" if remove else "/react"
        for _ in range(2 if duplicate else 1):
            reply = await self.session.handle_line(f"{member}> {verb} {candidate_id} {stance.value}", event_key=key)
            assert reply is not None and "✓" in reply, reply

    async def press(self, member: str, custom_id: str) -> str:
        _, _, amendment, choice = custom_id.split(":")
        reply = await self.session.handle_line(f"{member}> /vote {amendment} {choice}")
        assert reply is not None
        return reply

    async def settle(self) -> None:
        await self.app.engine.drain()

    def posted_texts(self) -> list[str]:
        return [render_post(p, k) for k, p in self.chat.posts.items()]


async def test_console_passes_conformance(database: Database) -> None:
    out = io.StringIO()
    chat = ConsoleChat(out)
    # the fake generator answers one text per call: independent sampling, no background drafting
    settings = Settings(database_url=database.url, sampling="independent", max_drafts=0, preview=False)
    app = bootstrap(settings, chat, generator=FakeGenerator(), database=database)
    session = ConsoleSession(app, chat, community="c1", channel="general")
    try:
        await run_conformance(ConsoleDriver(app, chat, session))
    finally:
        await app.engine.close()
    assert "Policy round #1" in out.getvalue()


async def test_console_precedents_and_try(database: Database) -> None:
    chat = ConsoleChat(io.StringIO())
    settings = Settings(database_url=database.url, sampling="independent", max_drafts=0, preview=False)
    app = bootstrap(settings, chat, generator=StressCaseGenerator(), database=database)
    try:
        await run_precedent_conformance(ConsoleDriver(app, chat, ConsoleSession(app, chat, community="c1")))
    finally:
        await app.engine.close()
