"""Fixtures for the Slack adapter: a local fake Slack Web API and the real Bolt AsyncApp served on
loopback, pointed at it (its Web API base URL and every response_url)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from adapters.slack.pacing import SlackLimits, SlackPacing
from adapters.slack.run import SlackBot, build, serve_http
from adapters.slack.settings import SlackSettings
from bot.ports import Generator
from bot.settings import Settings
from storage.database import Database
from tests.slack.driver import SIGNING_SECRET, SlackDriver, SlackSender, events_url
from tests.slack.fake_slack import BOT_TOKEN, CLIENT_ID, CLIENT_SECRET, FakeSlack
from tests.support.fakes import FakeGenerator


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    for gate in server.gates.values():
        gate.set()
    await server.stop()


@dataclass
class RunningSlack:
    bot: SlackBot
    runner: web.AppRunner
    sender: SlackSender
    driver: SlackDriver


StartSlack = Callable[..., Awaitable[RunningSlack]]
FAST = SlackLimits().scaled(0.01)  # Slack's limits on a clock 100 times faster: paced, but quick to test


def slack_settings(database: Database, fake: FakeSlack) -> Settings:
    # the fake generator answers one text per call: independent sampling, no background drafting or previews
    return Settings(
        database_url=database.url,
        sampling="independent",
        max_drafts=0,
        preview=False,
        max_response_chars=100_000,  # long candidates kept whole: these tests check the splitting to Slack's limits
    )


@pytest.fixture
async def start_slack(fake: FakeSlack, database: Database) -> AsyncIterator[StartSlack]:
    running: list[RunningSlack] = []
    session = aiohttp.ClientSession()

    async def start(
        *,
        generator: Generator | None = None,
        moderator_group: str | None = None,
        oauth: bool = False,
        limits: SlackLimits | None = None,
    ) -> RunningSlack:
        """The bot with SLACK_BOT_TOKEN, or in OAuth mode (`oauth`): workspaces install it at /slack/install."""
        credentials: dict[str, object] = (
            {"client_id": CLIENT_ID, "client_secret": SecretStr(CLIENT_SECRET)} if oauth else {"bot_token": SecretStr(BOT_TOKEN)}
        )
        bot = build(
            slack_settings(database, fake),
            SlackSettings(
                signing_secret=SecretStr(SIGNING_SECRET),
                api_url=fake.api_url,
                moderator_group=moderator_group,
                **credentials,  # type: ignore[arg-type]
            ),
            generator=generator or FakeGenerator(),
            database=database,
            pacing=SlackPacing(limits or FAST),
        )
        runner = await serve_http(bot, "127.0.0.1", 0)
        port = runner.addresses[0][1]
        sender = SlackSender(events_url(port), fake, session)
        r = RunningSlack(bot, runner, sender, SlackDriver(fake, bot, sender))
        running.append(r)
        return r

    yield start
    for r in running:
        await r.driver.settle()
        await r.runner.cleanup()
        await r.bot.app.engine.close()
    await session.close()
