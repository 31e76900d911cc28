"""/privacy: what the bot holds about a member, leaving exports, consent, attributes, naming, erasure."""

from typing import Literal

from discord import app_commands

from adapters.discord.commands.base import AdapterGroup, Interaction
from bot.domain import commands as c
from bot.export.attributes import ATTRIBUTES


class PrivacyGroup(AdapterGroup, name="privacy", description="Your data in policybot: see it, leave exports, erase it"):
    @app_commands.command(name="show", description="What the bot holds about you, as a file")
    async def show(self, interaction: Interaction) -> None:
        await self.adapter.run(interaction, lambda a: c.PrivacyShow(a))

    @app_commands.command(name="optout", description="Leave your data out of research exports")
    async def optout(self, interaction: Interaction) -> None:
        await self.adapter.run(interaction, lambda a: c.PrivacyExportChoice(a, opt_out=True))

    @app_commands.command(name="optin", description="Take part in research exports again")
    async def optin(self, interaction: Interaction) -> None:
        await self.adapter.run(interaction, lambda a: c.PrivacyExportChoice(a, opt_out=False))

    @app_commands.command(name="consent", description="Give or withdraw consent, where the server exports only with consent")
    @app_commands.describe(answer="yes: my data may be exported; no: leave it out")
    async def consent(self, interaction: Interaction, answer: Literal["yes", "no"]) -> None:
        await self.adapter.run(interaction, lambda a: c.PrivacyExportChoice(a, consent=answer == "yes"))

    @app_commands.command(name="attributes", description="Optional self-description, used only in aggregate")
    @app_commands.describe(
        agree="store what you give here",
        clear="remove what you gave before",
        country=ATTRIBUTES["country"],
        age=ATTRIBUTES["age"],
        gender=ATTRIBUTES["gender"],
        language=ATTRIBUTES["language"],
    )
    async def attributes(
        self,
        interaction: Interaction,
        agree: bool = False,
        clear: bool = False,
        country: app_commands.Range[str, 1, 64] | None = None,
        age: app_commands.Range[str, 1, 16] | None = None,
        gender: app_commands.Range[str, 1, 64] | None = None,
        language: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        given = {"country": country, "age": age, "gender": gender, "language": language}
        pairs = tuple((k, v) for k, v in given.items() if v is not None)
        await self.adapter.run(interaction, lambda a: c.PrivacyAttributes(a, pairs, agree=agree, clear=clear))

    @app_commands.command(name="name", description="Credit what you write to your display name, or to 'a member'")
    @app_commands.describe(setting="on: your display name is shown on what you write; off: 'a member'")
    async def naming(self, interaction: Interaction, setting: Literal["on", "off"]) -> None:
        await self.adapter.run(interaction, lambda a: c.PrivacyName(a, named=setting == "on"))

    @app_commands.command(name="erase", description="Erase your data in this server: events, words, settings, your name")
    @app_commands.describe(confirm="True to erase; without it you see what would be erased")
    async def erase(self, interaction: Interaction, confirm: bool = False) -> None:
        await self.adapter.run(interaction, lambda a: c.PrivacyErase(a, confirm=confirm))
