"""The slash command tree: one module per group of the core's commands (policy, scenario, round,
amend, stress, export, privacy, precedent) plus the adapter's own /settings, and the commands outside
any group (/vote, /react, /unreact, /reminders, /help, /try). Each group is handed the adapter it runs through; each
callback only translates its typed options into a core command, and the adapter defers at once,
dispatches and follows up."""

from typing import Any

from discord import app_commands

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.commands.amend import AmendGroup
from adapters.discord.commands.export import ExportGroup
from adapters.discord.commands.policy import PolicyGroup
from adapters.discord.commands.precedent import PrecedentGroup, try_command
from adapters.discord.commands.privacy import PrivacyGroup
from adapters.discord.commands.round import RoundGroup
from adapters.discord.commands.scenario import ScenarioGroup
from adapters.discord.commands.settings import SettingsGroup
from adapters.discord.commands.single import single_commands
from adapters.discord.commands.stress import StressGroup

GROUPS = (
    PolicyGroup,
    ScenarioGroup,
    RoundGroup,
    AmendGroup,
    StressGroup,
    ExportGroup,
    PrivacyGroup,
    SettingsGroup,
    PrecedentGroup,
)


def add_commands(tree: app_commands.CommandTree[Any], adapter: DiscordAdapter) -> None:
    """Register every command on the tree, for this adapter (called once per client, never at import)."""
    for group in GROUPS:
        tree.add_command(group(adapter))
    for command in single_commands(adapter):
        tree.add_command(command)
    tree.add_command(try_command(adapter))  # precedents and /try
