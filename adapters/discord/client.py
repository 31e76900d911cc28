"""The discord.py client: default intents only, no mention ever allowed, the command tree, the
persistent buttons, and raw reaction events with a redelivery-stable event key."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import discord
from discord import app_commands

from adapters.discord.adapter import DiscordAdapter, event_key_for
from adapters.discord.chat import DiscordChat
from adapters.discord.commands import add_commands
from adapters.discord.components import DYNAMIC_ITEMS
from adapters.discord.render import NO_MENTIONS
from adapters.discord.sync import CommandScopes, sync_commands
from adapters.discord.threads import ThreadKeeper
from bot.bootstrap import App

log = logging.getLogger("policybot.discord")

_REACTION_EVENTS = ("raw_reaction_add", "raw_reaction_remove")


class PolicyBot(discord.AutoShardedClient):
    """Build it, build the App with DiscordChat(bot), then bot.attach(app) before start().

    Sharded (a bot in more than 2,500 servers must be): with no shard count, Discord's recommended
    count, every shard in this process; with `shard_count` and `shard_ids`, only those shards (one
    process per shard range, each on the same database)."""

    adapter: DiscordAdapter
    threads: ThreadKeeper

    def __init__(
        self,
        *,
        guild_id: int | None = None,
        sync: bool = True,
        shard_count: int | None = None,
        shard_ids: list[int] | None = None,
        **options: Any,
    ) -> None:
        if shard_ids is not None:
            options["shard_ids"] = shard_ids
        super().__init__(intents=discord.Intents.default(), allowed_mentions=NO_MENTIONS, shard_count=shard_count, **options)
        # Every command works inside a server only (a community is a server), installed to the server.
        self.tree: app_commands.CommandTree[PolicyBot] = app_commands.CommandTree(
            self,
            allowed_contexts=app_commands.AppCommandContext(guild=True),
            allowed_installs=app_commands.AppInstallationType(guild=True),
        )
        self.sync_guild_id = guild_id
        self.sync_on_start = sync
        self._event_keys: dict[int, str] = {}

    def attach(self, app: App) -> DiscordAdapter:
        chat = app.engine.services.chat
        assert isinstance(chat, DiscordChat), "bootstrap the App with DiscordChat(this client)"
        self.adapter = DiscordAdapter(app, self, chat)
        self.threads = ThreadKeeper(self, app.engine.services.uow)
        add_commands(self.tree, self.adapter)
        return self.adapter

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*DYNAMIC_ITEMS.values())
        self.threads.start()
        if self.sync_on_start:
            await self.sync_commands()

    async def sync_commands(self) -> list[app_commands.AppCommand]:
        """Register the commands globally, or in the development server, clearing the other scope."""
        scopes = CommandScopes(self.adapter.app.engine.services.uow)
        return await sync_commands(self, self.tree, scopes, self.sync_guild_id)

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        # The gateway sets ws.sequence and calls the parser (which calls this) synchronously, so the
        # sequence number read here is the one of the dispatch being handled, on the shard that
        # carries the reaction's server.
        if event in _REACTION_EVENTS and args:
            ws = self._shard_socket(args[0].guild_id)
            if ws is not None and ws.sequence is not None:
                key = event_key_for(ws.session_id, ws.sequence, args[0])
            else:  # not from a gateway connection: no redelivery to recognise
                key = event_key_for("local", None, args[0]) + f":{uuid.uuid4().hex}"
            self._event_keys[id(args[0])] = key
        super().dispatch(event, *args, **kwargs)

    def _shard_socket(self, guild_id: int | None) -> discord.gateway.DiscordWebSocket | None:
        """The connection of the shard carrying a server's events (Discord: (id >> 22) % shard count)."""
        if self.shard_count is None:
            return None
        shard = (guild_id >> 22) % self.shard_count if guild_id is not None else 0
        try:
            return self._get_websocket(shard_id=shard)
        except KeyError:  # not a shard of this process (or not connected yet)
            return None

    async def close(self) -> None:
        keeper = getattr(self, "threads", None)  # None when closed before attach()
        if keeper is not None:
            await keeper.stop()
        await super().close()

    async def on_ready(self) -> None:
        # connected (again) with every server's active threads known: reopen those archived meanwhile
        await self.threads.safe_sweep()

    async def on_raw_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        try:
            await self.threads.on_thread_update(payload)
        except Exception:
            log.exception("keeping thread %s open failed; the next sweep tries again", payload.thread_id)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload)

    async def _reaction(self, payload: discord.RawReactionActionEvent) -> None:
        key = self._event_keys.pop(id(payload), None)
        if key is None:
            log.warning("reaction event without an event key; ignored")
            return
        await self.adapter.on_reaction(payload, key)
