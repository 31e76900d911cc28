"""`policybot run slack`: one Bolt AsyncApp, served over HTTP (events, commands and interactivity
at /slack/events, verified with SLACK_SIGNING_SECRET) or over Socket Mode (SLACK_APP_TOKEN).

One workspace runs with SLACK_BOT_TOKEN. Many workspaces run in OAuth mode (SLACK_CLIENT_ID and
SLACK_CLIENT_SECRET; HTTP only): Bolt's OAuth flow serves /slack/install and /slack/oauth_redirect
beside /slack/events, and keeps each workspace's installation in the database, so several processes
behind one URL share them (adapters/slack/installations.py).

Settings: adapters/slack/settings.py. The Web API base URL is POLICYBOT_SLACK_API_URL (Slack's by
default), so the bot can talk to a test server or an enterprise proxy; 429s are waited out
(Retry-After) and retried, never dropped."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.adapter import SlackAdapter
from adapters.slack.chat import SlackChat, retry_handlers
from adapters.slack.installations import InstalledWorkspaces, OneWorkspace, Workspaces, oauth_settings, register_lifecycle, stores
from adapters.slack.moderators import SlackModerators
from adapters.slack.pacing import SlackLimits, SlackPacing
from adapters.slack.settings import INSTALL_PATH, SlackSettings
from bot.bootstrap import App, bootstrap
from bot.ports import Clock, Generator
from bot.settings import Settings
from storage.database import Database

log = logging.getLogger("policybot.slack")

EVENTS_PATH = "/slack/events"


@dataclass
class SlackBot:
    bolt: AsyncApp
    app: App
    chat: SlackChat
    adapter: SlackAdapter

    def web_app(self) -> web.Application:
        """The aiohttp application Bolt serves: POST /slack/events (and, in OAuth mode, GET /slack/install
        and /slack/oauth_redirect)."""
        return AsyncSlackAppServer(port=0, path=EVENTS_PATH, app=self.bolt).web_app


def build(
    settings: Settings,
    slack: SlackSettings,
    *,
    generator: Generator | None = None,
    clock: Clock | None = None,
    database: Database | None = None,
    pacing: SlackPacing | None = None,
) -> SlackBot:
    """The Bolt app, the ChatPort and the core app wired together (the tests use this with a fake Slack;
    `pacing`: Slack's rate limits by default, faster ones for tests against the fake)."""
    mode = slack.mode()
    database = database or Database(settings.database_url)
    workspaces: Workspaces
    if mode == "token":
        assert slack.bot_token is not None
        client = AsyncWebClient(token=slack.bot_token.get_secret_value(), base_url=slack.api_url, retry_handlers=retry_handlers())
        workspaces = OneWorkspace(client)
        bolt = _bolt(slack, client)
    else:
        # no token of its own: Bolt's authorize gives each request's listeners the workspace's token, and
        # the chat finds it in the installation store for posts made outside a request
        client = AsyncWebClient(base_url=slack.api_url, retry_handlers=retry_handlers())
        installations, states = stores(slack, database.engine)
        workspaces = InstalledWorkspaces(
            installations, api_url=slack.api_url, retry_handlers=retry_handlers(), ttl=slack.token_cache_seconds
        )
        bolt = _bolt(slack, client, oauth_settings=oauth_settings(slack, installations, states))
    chat = SlackChat(workspaces, pacing or SlackPacing(SlackLimits().scaled(slack.rate_limit_clock)))
    app = bootstrap(settings, chat, generator=generator, clock=clock, database=database)
    moderators = SlackModerators(workspaces, slack.moderator_group, uow=app.engine.services.uow)
    adapter = SlackAdapter(app, bolt, chat, moderators)
    adapter.register()
    register_lifecycle(bolt, workspaces)
    return SlackBot(bolt, app, chat, adapter)


def _bolt(slack: SlackSettings, client: AsyncWebClient, **oauth: Any) -> AsyncApp:
    secret = slack.signing_secret.get_secret_value() if slack.signing_secret else ""
    quiet = logging.getLogger("slack_bolt.AsyncApp")  # Bolt warns that SLACK_BOT_TOKEN is unused: the client has it
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        # process_before_response=True: Bolt awaits the (instant, I/O-free) ack listener inline and answers
        # at once, instead of running it in a task and polling for the ack every 10 ms; the slow work
        # still runs in lazy listeners, which Bolt starts as tasks before it returns the response.
        return AsyncApp(client=client, signing_secret=secret, name="policybot", process_before_response=True, **oauth)
    finally:
        quiet.setLevel(level)


async def serve_http(bot: SlackBot, host: str, port: int) -> web.AppRunner:
    """Start Bolt's aiohttp server; returns the runner (cleanup() stops it)."""
    runner = web.AppRunner(bot.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def socket_mode_handler(bot: SlackBot, app_token: str) -> AsyncSocketModeHandler:
    """The same Bolt app over Socket Mode: apps.connections.open (on the configured API URL) with the
    app-level token, then a websocket; each envelope is acked by Bolt as soon as its ack() runs."""
    return AsyncSocketModeHandler(bot.bolt, app_token, web_client=bot.bolt.client)


async def run(
    settings: Settings, slack: SlackSettings, *, mode: Literal["auto", "http", "socket"] = "auto", port: int | None = None
) -> None:
    oauth = slack.mode() == "oauth"
    if mode == "auto":
        mode = "socket" if slack.app_token is not None and not oauth else "http"
    if oauth and mode == "socket":
        raise SystemExit(
            "OAuth mode (SLACK_CLIENT_ID/SLACK_CLIENT_SECRET) runs over HTTP: workspaces install the app at "
            f"{INSTALL_PATH} and Slack cannot distribute a Socket Mode app. Use --mode http, or run one workspace with "
            "SLACK_BOT_TOKEN and SLACK_APP_TOKEN."
        )
    if mode == "http" and slack.signing_secret is None:
        raise SystemExit("Set SLACK_SIGNING_SECRET (Basic Information → App Credentials) to receive events over HTTP.")
    if mode == "socket" and slack.app_token is None:
        raise SystemExit("Set SLACK_APP_TOKEN (xapp-…, Basic Information → App-Level Tokens, scope connections:write).")
    bot = build(settings, slack)
    async with bot.app.running():
        if mode == "http":
            runner = await serve_http(bot, slack.host, port if port is not None else slack.port)
            log.info("policybot listens for Slack on http://%s:%s%s", slack.host, port or slack.port, EVENTS_PATH)
            if oauth:
                log.info("workspaces install policybot at %s (on the app's public address)", INSTALL_PATH)
            try:
                await asyncio.Event().wait()  # until interrupted
            finally:
                await runner.cleanup()
        else:
            assert slack.app_token is not None
            handler = socket_mode_handler(bot, slack.app_token.get_secret_value())
            log.info("policybot connects to Slack over Socket Mode")
            try:
                await handler.start_async()  # type: ignore[no-untyped-call]
            finally:
                await handler.close_async()  # type: ignore[no-untyped-call]
