"""Registering the slash commands with Discord, in one scope at a time, so no server shows them twice.

Discord keeps global commands and each server's own commands apart, and shows both: a server that
got the commands directly (`--guild`, while developing) and then globally lists every command twice.
So each registration clears the scope it does not use: a registration in a server clears the global
commands (use a separate application for development: it empties the commands of every server), and
a global one clears every server they were registered in directly. Those servers are kept in the
database (discord_command_scope) so that the global registration after a development run, by any
process on that database, finds them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import discord
from discord import app_commands
from sqlmodel import select

from storage.tables import DiscordCommandScopeRow
from storage.uow import UnitOfWork

log = logging.getLogger("policybot.discord")


class CommandScopes:
    """The servers the commands are registered in directly."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def guilds(self) -> list[int]:
        async with self._uow() as uow:
            return [int(g) for g in (await uow.session.exec(select(DiscordCommandScopeRow.guild_id))).all()]

    async def add(self, guild_id: int) -> None:
        async with self._uow() as uow:
            row = await uow.session.get(DiscordCommandScopeRow, str(guild_id))
            row = row or DiscordCommandScopeRow(guild_id=str(guild_id), synced_at=datetime.now(UTC))
            row.synced_at = datetime.now(UTC)
            uow.session.add(row)
            await uow.commit()

    async def remove(self, guild_id: int) -> None:
        async with self._uow() as uow:
            row = await uow.session.get(DiscordCommandScopeRow, str(guild_id))
            if row is not None:
                await uow.session.delete(row)
                await uow.commit()


async def sync_commands(
    client: discord.Client, tree: app_commands.CommandTree[Any], scopes: CommandScopes, guild_id: int | None
) -> list[app_commands.AppCommand]:
    """Register the tree globally (reaching every server within about an hour), or in one server
    (at once, for development), and clear the other scope."""
    application_id = client.application_id
    assert application_id is not None, "log in before registering commands"
    if guild_id is not None:
        guild = discord.Object(guild_id)
        tree.copy_global_to(guild=guild)
        synced = await tree.sync(guild=guild)
        await scopes.add(guild_id)
        await client.http.bulk_upsert_global_commands(application_id, [])
        log.info("registered %d commands in server %s; cleared the global ones", len(synced), guild_id)
        return synced
    synced = await tree.sync()
    for earlier in await scopes.guilds():
        try:
            await client.http.bulk_upsert_guild_commands(application_id, earlier, [])
        except discord.Forbidden:  # the bot left that server: its commands went with it
            log.info("server %s: the bot is no longer there; nothing to clear", earlier)
        await scopes.remove(earlier)
        log.info("cleared the commands registered directly in server %s", earlier)
    return synced
