"""/export: research exports as a zip, and the community's data licence and consent rule (moderators).

No default_permissions: Discord would hide the group from members without Manage Server, and so
from moderators by the policybot role; the core refuses every member who is not a moderator."""

from typing import Literal

from discord import app_commands

from adapters.discord.commands.base import POLICY, AdapterGroup, Id, Interaction
from bot.domain import commands as c

FORMATS = "trl, trl-standard, kto, openai, polis, community-alignment, events (default: all)"


def formats_of(text: str | None) -> tuple[str, ...]:
    return tuple(f.strip().lower() for f in (text or "all").split(",") if f.strip()) or ("all",)


class ExportGroup(
    AdapterGroup,
    name="export",
    description="Research exports as a zip: data, dataset card, checksums (moderators)",
):
    @app_commands.command(name="round", description="Export one round")
    @app_commands.describe(formats=FORMATS, parquet="also write Parquet files", round="the round's number (see /round status)")
    @app_commands.autocomplete(round=AdapterGroup.round_ids)
    async def round_(self, interaction: Interaction, round: Id, formats: str | None = None, parquet: bool = False) -> None:
        await self.adapter.run(
            interaction, lambda a: c.ExportData(a, round_id=round, formats=formats_of(formats), parquet=parquet)
        )

    @app_commands.command(name="policy", description="Export every round of a policy")
    @app_commands.describe(formats=FORMATS, parquet="also write Parquet files", name=POLICY)
    @app_commands.autocomplete(name=AdapterGroup.policy_names)
    async def policy(self, interaction: Interaction, name: str, formats: str | None = None, parquet: bool = False) -> None:
        await self.adapter.run(interaction, lambda a: c.ExportData(a, policy=name, formats=formats_of(formats), parquet=parquet))

    @app_commands.command(name="community", description="Export everything in this server")
    @app_commands.describe(formats=FORMATS, parquet="also write Parquet files")
    async def community_(self, interaction: Interaction, formats: str | None = None, parquet: bool = False) -> None:
        await self.adapter.run(interaction, lambda a: c.ExportData(a, formats=formats_of(formats), parquet=parquet))

    @app_commands.command(name="settings", description="The data licence, and whether exports need members' consent")
    @app_commands.describe(licence="e.g. CC-BY-4.0", consent="required: only members who consented are exported")
    async def settings(
        self, interaction: Interaction, licence: str | None = None, consent: Literal["required", "optional"] | None = None
    ) -> None:
        required = None if consent is None else consent == "required"
        await self.adapter.run(interaction, lambda a: c.ExportSettings(a, licence=licence, consent_required=required))
