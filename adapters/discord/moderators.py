"""Who is a moderator on Discord: a member with the Manage Server permission (Administrator
implies it), or a member holding the role the server owner chose with /settings moderator-role.
The adapter resolves this and passes it to the core in Actor.is_moderator; the core enforces it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import discord

from storage.tables import DiscordGuildSettingsRow
from storage.uow import UnitOfWork


class ModeratorRoles:
    """The per-guild moderator role, kept in the discord_guild_settings table and cached here."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow
        self._cache: dict[int, int | None] = {}

    async def role_for(self, guild_id: int) -> int | None:
        if guild_id not in self._cache:
            async with self._uow() as uow:
                row = await uow.session.get(DiscordGuildSettingsRow, str(guild_id))
            self._cache[guild_id] = int(row.moderator_role_id) if row and row.moderator_role_id else None
        return self._cache[guild_id]

    async def set_role(self, guild_id: int, role_id: int | None, by: int) -> None:
        async with self._uow() as uow:
            s = uow.session
            row = await s.get(DiscordGuildSettingsRow, str(guild_id))
            if row is None:
                row = DiscordGuildSettingsRow(guild_id=str(guild_id), updated_by=str(by), updated_at=datetime.now(UTC))
            row.moderator_role_id = str(role_id) if role_id is not None else None
            row.updated_by = str(by)
            row.updated_at = datetime.now(UTC)
            s.add(row)
            await uow.commit()
        self._cache[guild_id] = role_id

    async def is_moderator(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.guild_id is None:
            return False
        perms = interaction.permissions  # the member's permissions in this channel, as Discord computed them
        if perms.manage_guild or perms.administrator:
            return True
        role_id = await self.role_for(interaction.guild_id)
        member = interaction.user
        return role_id is not None and isinstance(member, discord.Member) and member.get_role(role_id) is not None
