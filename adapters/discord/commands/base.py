"""What every command group shares: the adapter it is handed, the option types, the autocomplete
callbacks, and reading options the platform cannot check (attachments, lists of ids).

No `from __future__ import annotations` in this package: discord.py reads the annotations of the
command callbacks at runtime to build each option's type, choices and limits."""

import re
from typing import Any, Literal

import discord
from discord import app_commands

from adapters.discord import autocomplete as ac
from adapters.discord.adapter import DiscordAdapter
from bot.domain.bounds import MAX_INT
from bot.errors import CommandError
from bot.inbound.suggestions import UowFactory

Id = app_commands.Range[int, 1, MAX_INT]  # every id column is a 32-bit integer
Interaction = discord.Interaction[Any]
MAX_UPLOAD = 1_000_000  # bytes of a policy or scenario file read from an attachment
STANCES = Literal["endorse", "object", "pass", "best"]
# option descriptions several commands share (Discord shows them under each option, at most 100 characters)
RUNNING_ROUND = "the round's number (a running round; see /round status)"
POLICY = "the policy's name (see /policy list)"
RATIONALE = "why the change is needed, shown with the amendment"


def community(interaction: Interaction) -> str:
    return str(interaction.guild_id or "")


async def read_attachment(file: discord.Attachment) -> str:
    if file.size > MAX_UPLOAD:
        raise CommandError(f"The file {file.filename} is {file.size:,} bytes; the limit is {MAX_UPLOAD:,}.")
    try:
        return (await file.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"The file {file.filename} is not UTF-8 text.") from None
    except discord.HTTPException as e:
        raise CommandError(f"Could not download {file.filename} from Discord ({e.status}); try again.") from None


def scenario_ids(text: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts or not all(re.fullmatch(r"#?\d{1,12}", p) for p in parts):
        raise CommandError(f"'{text[:60]}' is not a list of scenario numbers: write e.g. 1,2,3 (see /scenario list).")
    return tuple(int(p.lstrip("#")) for p in parts)


class AdapterGroup(app_commands.Group):
    """A slash command group handed the adapter it runs its commands through. Its autocomplete
    callbacks are methods of this class (discord.py passes them the group they are bound to)."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        super().__init__()
        self.adapter = adapter

    @property
    def uow(self) -> UowFactory:
        return self.adapter.app.engine.services.uow

    async def policy_names(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await ac.policies(self.uow, community(interaction), current)

    async def round_ids(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        return await ac.rounds(self.uow, community(interaction), current)

    async def open_round_ids(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        return await ac.rounds(self.uow, community(interaction), current, open_only=True)

    async def scenario_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        return await ac.scenarios(self.uow, community(interaction), current)

    async def scenario_lists(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await ac.scenario_list(self.uow, community(interaction), current)

    async def clause_numbers(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        round_id = getattr(interaction.namespace, "round", None)
        return await ac.clauses(self.uow, community(interaction), round_id if isinstance(round_id, int) else None, current)

    async def amendment_ids(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        return await ac.amendments(self.uow, community(interaction), current)
