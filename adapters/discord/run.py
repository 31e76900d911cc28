"""`policybot run discord`: build the client and the app, log in, start the app's background work, run.

Sharded deployments run one process per shard range (`--shard-count 8 --shards 0-3`, then `4-7`), all
on one PostgreSQL database: each process connects its own shards (so each server's interactions,
reactions and threads reach exactly one process), all of them deliver the outbox and reconcile the
deadlines (an outbox row is held by the process posting it, a transition is a compare-and-set, so
every post and every transition happens once), and only the process with shard 0 registers the
slash commands. Each process is named after its shards (POLICYBOT_INSTANCE, unless set), so a
restarted one takes back at once the posts it held."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from adapters.discord.chat import DiscordChat
from adapters.discord.client import PolicyBot
from adapters.discord.settings import DiscordSettings
from bot.bootstrap import App, bootstrap
from bot.ports import Clock, Generator
from bot.settings import Settings
from storage.database import Database

log = logging.getLogger("policybot.discord")


@dataclass(frozen=True, slots=True)
class Shards:
    """The shards one process runs: `ids` of `count` (Discord numbers them 0 … count-1)."""

    count: int
    ids: tuple[int, ...]

    @classmethod
    def parse(cls, count: int, text: str | None) -> Shards:
        """`--shard-count N --shards A-B` (or a single shard `A`; all N when no range is given)."""
        if count < 1:
            raise ValueError(f"--shard-count must be at least 1, not {count}.")
        if not text:
            return cls(count, tuple(range(count)))
        first, _, last = text.partition("-")
        if not first.strip().isdigit() or not (last or first).strip().isdigit():
            raise ValueError(f"--shards is a range like 0-3 (or one shard like 2), not {text!r}.")
        a, b = int(first), int(last or first)
        if not 0 <= a <= b < count:
            raise ValueError(f"--shards {text} is not within 0-{count - 1} (shards are numbered from 0 to --shard-count - 1).")
        return cls(count, tuple(range(a, b + 1)))

    @property
    def instance(self) -> str:
        """This process's name among those sharing the database, stable across restarts."""
        return f"discord-shards-{self.ids[0]}-{self.ids[-1]}-of-{self.count}"

    @property
    def registers_commands(self) -> bool:
        return 0 in self.ids  # one process registers them: the one running shard 0


def for_shards(settings: Settings, shards: Shards | None) -> Settings:
    """The settings with this process named after its shards, unless POLICYBOT_INSTANCE names it."""
    if shards is None or "instance" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"instance": shards.instance})


def build(
    settings: Settings,
    *,
    guild_id: int | None = None,
    sync: bool = True,
    shards: Shards | None = None,
    generator: Generator | None = None,
    clock: Clock | None = None,
    database: Database | None = None,
    **client_options: Any,
) -> tuple[PolicyBot, App]:
    """The client and the app wired together (also used by the tests, with a local fake Discord)."""
    if shards is not None:
        client_options |= {"shard_count": shards.count, "shard_ids": list(shards.ids)}
        sync = sync and shards.registers_commands
    client = PolicyBot(guild_id=guild_id, sync=sync, **client_options)
    settings = for_shards(settings, shards)
    app = bootstrap(settings, DiscordChat(client), generator=generator, clock=clock, database=database)
    client.attach(app)
    return client, app


async def run(
    settings: Settings,
    discord_settings: DiscordSettings,
    *,
    guild_id: int | None = None,
    sync: bool = True,
    shards: Shards | None = None,
    generator: Generator | None = None,
) -> None:
    """The bot until it is stopped. `generator` replaces the model from the settings (tests)."""
    if discord_settings.token is None:
        raise SystemExit("Set DISCORD_TOKEN to the bot token from the Discord developer portal (Bot → Reset Token).")
    guild = guild_id or discord_settings.guild_id
    client, app = build(settings, guild_id=guild, sync=sync, shards=shards, generator=generator)
    if shards is not None:
        log.info("running shards %s of %s as %s", shards.ids, shards.count, app.settings.instance)
    try:
        async with client:
            # Log in first (REST works from here: the scheduler can post), then start the app's
            # background work, then connect to the gateway for interactions and reactions.
            await client.login(discord_settings.token.get_secret_value())
            async with app.running():
                await client.connect()
    finally:
        await app.close()  # also when the login failed, before the app ran
