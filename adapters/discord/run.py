"""`policybot run discord`: build the client and the app, start background services, run."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.discord.chat import DiscordChat
from adapters.discord.client import PolicyBot
from bot.bootstrap import App, bootstrap
from bot.ports import Clock, Generator
from bot.settings import Settings
from storage.database import Database

log = logging.getLogger("policybot.discord")

Stop = Callable[[], Awaitable[None]]


def build(
    settings: Settings,
    *,
    guild_id: int | None = None,
    sync: bool = True,
    generator: Generator | None = None,
    clock: Clock | None = None,
    database: Database | None = None,
    **client_options: Any,
) -> tuple[PolicyBot, App]:
    """The client and the app wired together (also used by the tests, with a local fake Discord)."""
    client = PolicyBot(guild_id=guild_id, sync=sync, **client_options)
    app = bootstrap(settings, DiscordChat(client), generator=generator, clock=clock, database=database)
    client.attach(app)
    return client, app


async def start_background_services(app: App) -> Stop | None:
    """Start the phase scheduler (bot/scheduler.py, issue 6) for this app when it is installed;
    returns how to stop it."""
    try:
        from bot import scheduler  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        log.warning("bot.scheduler is not available: phases advance only with /round advance")
        return None
    start = getattr(scheduler, "start", None)
    stop = getattr(scheduler, "stop", None)
    if start is None:
        log.warning("bot.scheduler has no start(app): phases advance only with /round advance")
        return None
    handle = await start(app)

    async def _stop() -> None:
        if stop is not None:
            await stop(handle)

    return _stop


async def run(settings: Settings, *, guild_id: int | None = None, sync: bool = True) -> None:
    if settings.discord_token is None:
        raise SystemExit("Set DISCORD_TOKEN to the bot token from the Discord developer portal (Bot → Reset Token).")
    client, app = build(settings, guild_id=guild_id or settings.discord_guild_id, sync=sync)
    stop = await start_background_services(app)
    try:
        async with client:
            await client.start(settings.discord_token.get_secret_value())
    finally:
        if stop is not None:
            await stop()
        await app.close()
