"""`policybot run discord`: build the client and the app, log in, start the app's background work, run."""

from __future__ import annotations

import logging
from typing import Any

from adapters.discord.chat import DiscordChat
from adapters.discord.client import PolicyBot
from adapters.discord.settings import DiscordSettings
from bot.bootstrap import App, bootstrap
from bot.ports import Clock, Generator
from bot.settings import Settings
from storage.database import Database

log = logging.getLogger("policybot.discord")


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


async def run(
    settings: Settings,
    discord_settings: DiscordSettings,
    *,
    guild_id: int | None = None,
    sync: bool = True,
    generator: Generator | None = None,
) -> None:
    """The bot until it is stopped. `generator` replaces the model from the settings (tests)."""
    if discord_settings.token is None:
        raise SystemExit("Set DISCORD_TOKEN to the bot token from the Discord developer portal (Bot → Reset Token).")
    client, app = build(settings, guild_id=guild_id or discord_settings.guild_id, sync=sync, generator=generator)
    try:
        async with client:
            # Log in first (REST works from here: the scheduler can post), then start the app's
            # background work, then connect to the gateway for interactions and reactions.
            await client.login(discord_settings.token.get_secret_value())
            async with app.running():
                await client.connect()
    finally:
        await app.close()  # also when the login failed, before the app ran
