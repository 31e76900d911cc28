"""/scenario: the prompts the model answers under the policy."""

from typing import Literal

import discord
from discord import app_commands

from adapters.discord.commands.base import AdapterGroup, Id, Interaction, read_attachment
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.turns import turns_from_text


class ScenarioGroup(AdapterGroup, name="scenario", description="Scenarios: prompts the model must answer under the policy"):
    @app_commands.command(
        name="add", description="Add a scenario: a prompt, or a conversation 'user: … || assistant: … || user: …'"
    )
    @app_commands.describe(prompt="what a user asks the model", title="a short title shown in the round")
    async def add(
        self,
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 6000],
        title: app_commands.Range[str, 1, 120] | None = None,
    ) -> None:
        def build(actor: Actor) -> c.Command:
            return c.AddScenario(actor, turns_from_text(prompt.replace(" || ", "\n")), title or "")

        await self.adapter.run(interaction, build)

    @app_commands.command(name="list", description="The scenarios of this server")
    async def list_(self, interaction: Interaction) -> None:
        await self.adapter.run(interaction, lambda a: c.ListScenarios(a))

    @app_commands.command(name="remove", description="Remove a scenario from future rounds")
    @app_commands.describe(scenario="the scenario's number (see /scenario list)")
    @app_commands.autocomplete(scenario=AdapterGroup.scenario_choices)
    async def remove(self, interaction: Interaction, scenario: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.RemoveScenario(a, scenario))

    @app_commands.command(name="import", description="Import scenarios from a JSONL or text file")
    @app_commands.describe(
        file="JSONL with 'prompt' or 'messages', or text with blank-line-separated scenarios",
        format="auto: JSONL when the file starts with {, else text (default auto)",
    )
    async def import_(
        self, interaction: Interaction, file: discord.Attachment, format: Literal["auto", "jsonl", "text"] = "auto"
    ) -> None:
        async def build(actor: Actor) -> c.Command:
            return c.ImportScenarios(actor, await read_attachment(file), format)

        await self.adapter.run(interaction, build)
