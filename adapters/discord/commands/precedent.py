"""/precedent (scenarios the community decided, and how amendments and versions fare against them) and
/try (the model's answer to a member's own prompt, privately). Each callback only translates its
options into the core's command; `/try keep:<id>` is the text form's `/try keep <id>`."""

from typing import Any

from discord import app_commands

from adapters.discord import autocomplete as ac
from adapters.discord.adapter import DiscordAdapter
from adapters.discord.commands.base import AdapterGroup, Id, Interaction, community
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.turns import turns_from_text
from bot.errors import CommandError


class PrecedentGroup(AdapterGroup, name="precedent", description="Precedents: cases the community decided, held against changes"):
    @app_commands.command(name="list", description="The precedents of a policy (default: every policy), most supported first")
    @app_commands.describe(policy="the policy (default: every policy of this server)")
    @app_commands.autocomplete(policy=AdapterGroup.policy_names)
    async def list_(self, interaction: Interaction, policy: str | None = None) -> None:
        await self.adapter.run(interaction, lambda a: c.ListPrecedents(a, policy))

    @app_commands.command(name="show", description="A precedent: its scenario, its verdicts and their evidence, its checks")
    @app_commands.describe(precedent="the precedent's number (see /precedent list)")
    async def show(self, interaction: Interaction, precedent: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.ShowPrecedent(a, precedent))

    @app_commands.command(name="retire", description="Stop checking changes against a precedent (moderators)")
    @app_commands.describe(precedent="the precedent's number", reason="why (e.g. the community meant to change it)")
    async def retire(
        self, interaction: Interaction, precedent: Id, reason: app_commands.Range[str, 1, 1000] | None = None
    ) -> None:
        await self.adapter.run(interaction, lambda a: c.RetirePrecedent(a, precedent, reason or ""))

    @app_commands.command(name="checks", description="How an amendment, or a published version, fares against each precedent")
    @app_commands.describe(
        amendment="an amendment on the ballot", policy="a policy (with version)", version="a published version"
    )
    @app_commands.autocomplete(policy=AdapterGroup.policy_names)
    async def checks(
        self, interaction: Interaction, amendment: Id | None = None, policy: str | None = None, version: Id | None = None
    ) -> None:
        await self.adapter.run(interaction, lambda a: c.PrecedentChecks(a, amendment, policy, version))

    @app_commands.command(name="recheck", description="Check an amendment, or a published version, again (moderators)")
    @app_commands.describe(amendment="an amendment", policy="a policy (with a version)", version="a version a round published")
    @app_commands.autocomplete(policy=AdapterGroup.policy_names)
    async def recheck(
        self, interaction: Interaction, amendment: Id | None = None, policy: str | None = None, version: Id | None = None
    ) -> None:
        await self.adapter.run(interaction, lambda a: c.RecheckPrecedents(a, amendment, policy, version))


def try_command(adapter: DiscordAdapter) -> app_commands.Command[Any, ..., None]:
    async def policy_names(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await ac.policies(adapter.app.engine.services.uow, community(interaction), current)

    @app_commands.command(name="try", description="See privately what the model answers to your prompt under a policy")
    @app_commands.describe(
        prompt="your prompt, or a conversation 'user: … || assistant: … || user: …'",
        policy="the policy (default: the server's only one, or the amendment's)",
        version="a past version (default: the current one)",
        amendment="the policy as this amendment would make it",
        keep="add a prompt you tried as a scenario: the try's number (instead of a prompt)",
    )
    @app_commands.autocomplete(policy=policy_names)
    async def try_(
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 6000] | None = None,
        policy: str | None = None,
        version: Id | None = None,
        amendment: Id | None = None,
        keep: Id | None = None,
    ) -> None:
        def build(actor: Actor) -> c.Command:
            if keep is not None and prompt is None:
                return c.KeepTry(actor, keep)
            if prompt is not None and keep is None:
                return c.TryPrompt(actor, turns_from_text(prompt.replace(" || ", "\n")), policy, version, amendment)
            raise CommandError("Give a prompt to try, or keep: the number of a try to add as a scenario (one of the two).")

        await adapter.run(interaction, build)

    return try_
