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


async def start_background_services(app: App) -> Stop:
    """The phase scheduler (issue 6): deadlines and reminders, caught up on whatever fell due while
    the bot was down. Returns how to stop it."""
    from bot.scheduler import start_scheduler, stop_scheduler

    scheduler = await start_scheduler(app)

    async def stop() -> None:
        await stop_scheduler(scheduler)

    return stop


async def run(settings: Settings, *, guild_id: int | None = None, sync: bool = True, generator: Generator | None = None) -> None:
    """The bot until it is stopped. `generator` replaces the model from the settings (tests)."""
    if settings.discord_token is None:
        raise SystemExit("Set DISCORD_TOKEN to the bot token from the Discord developer portal (Bot → Reset Token).")
    client, app = build(settings, guild_id=guild_id or settings.discord_guild_id, sync=sync, generator=generator)
    try:
        async with client:
            # Log in first (REST works from here: the scheduler can post), then start the scheduler,
            # then connect to the gateway for interactions and reactions.
            await client.login(settings.discord_token.get_secret_value())
            stop = await start_background_services(app)
            await app.start()
            try:
                await client.connect()
            finally:
                await stop()
    finally:
        await app.close()
