"""/settings: the adapter's own settings for a server (who counts as a moderator).

Shown to every member (no default_permissions, which would hide it from moderators by role):
choosing the role is refused to anyone but the server owner, and showing it reveals nothing private."""

import discord
from discord import app_commands

from adapters.discord.commands.base import AdapterGroup, Interaction
from bot.domain.outputs import Reply


class SettingsGroup(
    AdapterGroup,
    name="settings",
    description="policybot settings for this server",
):
    @app_commands.command(name="moderator-role", description="Members with this role are moderators (server owner only)")
    @app_commands.describe(role="the role; leave empty to clear it (Manage Server still makes a moderator)")
    async def moderator_role(self, interaction: Interaction, role: discord.Role | None = None) -> None:
        adapter = self.adapter

        async def compute() -> Reply:
            guild = interaction.guild
            if guild is None or interaction.guild_id is None or guild.owner_id is None:
                return Reply("Could not check who owns this server yet; try again in a minute.", ok=False)
            if guild.owner_id != interaction.user.id:
                return Reply("Only the server owner can choose the moderator role.", ok=False)
            await adapter.moderators.set_role(interaction.guild_id, role.id if role else None, interaction.user.id)
            if role is None:
                return Reply("Cleared the moderator role: only members with Manage Server are policybot moderators.")
            return Reply(f"Members with the role {role.name} are now policybot moderators, besides those with Manage Server.")

        await adapter.answer(interaction, compute)

    @app_commands.command(name="show", description="Who counts as a moderator here")
    async def show(self, interaction: Interaction) -> None:
        adapter = self.adapter

        async def compute() -> Reply:
            role_id = await adapter.moderators.role_for(interaction.guild_id or 0)
            role = f"<@&{role_id}>" if role_id else "none"
            return Reply(f"Moderators: members with Manage Server, and members with the role {role}.")

        await adapter.answer(interaction, compute)
