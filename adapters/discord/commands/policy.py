"""/policy: policies, their versions and what changed between them."""

import discord
from discord import app_commands

from adapters.discord.commands.base import POLICY, AdapterGroup, Id, Interaction, read_attachment
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.errors import CommandError


class PolicyGroup(AdapterGroup, name="policy", description="Policies: numbered clauses the model follows"):
    @app_commands.command(name="create", description="Create a policy from numbered clauses (text or a Markdown/text file)")
    @app_commands.describe(
        name="a short name: letters, digits, '-', '_' or '.'",
        text="numbered clauses, e.g. '1. Be kind. 2. Cite sources.'",
        file="a .md or .txt file with one numbered clause per line (instead of text)",
    )
    async def create(
        self,
        interaction: Interaction,
        name: app_commands.Range[str, 1, 64],
        text: app_commands.Range[str, 1, 6000] | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        async def build(actor: Actor) -> c.Command:
            if text is not None and file is None:
                return c.CreatePolicy(actor, name, text)
            if file is not None and text is None:
                return c.CreatePolicy(actor, name, await read_attachment(file))
            raise CommandError("Give the clauses either as text or as a file (one of the two).")

        await self.adapter.run(interaction, build)

    @app_commands.command(name="show", description="Show a policy (the latest version, or the one given)")
    @app_commands.describe(name=POLICY, version="the version number (default: the latest)")
    @app_commands.autocomplete(name=AdapterGroup.policy_names)
    async def show(self, interaction: Interaction, name: str, version: Id | None = None) -> None:
        await self.adapter.run(interaction, lambda a: c.ShowPolicy(a, name, version))

    @app_commands.command(name="history", description="A policy's versions and what changed in each")
    @app_commands.describe(name=POLICY)
    @app_commands.autocomplete(name=AdapterGroup.policy_names)
    async def history(self, interaction: Interaction, name: str) -> None:
        await self.adapter.run(interaction, lambda a: c.PolicyHistory(a, name))

    @app_commands.command(name="diff", description="What changed between two versions of a policy")
    @app_commands.describe(
        name=POLICY, from_version="the older version number, e.g. 1", to_version="the newer version number, e.g. 2"
    )
    @app_commands.autocomplete(name=AdapterGroup.policy_names)
    async def diff(self, interaction: Interaction, name: str, from_version: Id, to_version: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.DiffPolicy(a, name, from_version, to_version))

    @app_commands.command(name="list", description="The policies of this server")
    async def list_(self, interaction: Interaction) -> None:
        await self.adapter.run(interaction, lambda a: c.ListPolicies(a))
