"""Autocomplete for slash command options: the core's suggestions (bot/inbound/suggestions.py) as Discord
choices, with names cut to Discord's limit."""

from __future__ import annotations

from typing import TypeVar

from discord import app_commands

from bot.domain.outputs import cut
from bot.inbound import suggestions
from bot.inbound.suggestions import Suggestion, UowFactory

CHOICE_NAME_LIMIT = 100
V = TypeVar("V", int, str)


def _choices(found: list[Suggestion[V]]) -> list[app_commands.Choice[V]]:
    return [app_commands.Choice(name=cut(" ".join(s.label.split()), CHOICE_NAME_LIMIT), value=s.value) for s in found]


async def policies(uow: UowFactory, community: str, current: str) -> list[app_commands.Choice[str]]:
    return _choices(await suggestions.policies(uow, community, current))


async def scenarios(uow: UowFactory, community: str, current: str) -> list[app_commands.Choice[int]]:
    return _choices(await suggestions.scenarios(uow, community, current))


async def scenario_list(uow: UowFactory, community: str, current: str) -> list[app_commands.Choice[str]]:
    return _choices(await suggestions.scenario_list(uow, community, current))


async def rounds(uow: UowFactory, community: str, current: str, *, open_only: bool = False) -> list[app_commands.Choice[int]]:
    return _choices(await suggestions.rounds(uow, community, current, open_only=open_only))


async def clauses(uow: UowFactory, community: str, round_id: int | None, current: str) -> list[app_commands.Choice[int]]:
    return _choices(await suggestions.clauses(uow, community, round_id, current))


async def amendments(
    uow: UowFactory, community: str, current: str, *, proposed_only: bool = True
) -> list[app_commands.Choice[int]]:
    return _choices(await suggestions.amendments(uow, community, current, proposed_only=proposed_only))
