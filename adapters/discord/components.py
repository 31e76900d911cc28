"""Buttons that survive a restart: DynamicItems whose custom_id templates are the core's own
(bot/inbound/actions.py), registered once with Client.add_dynamic_items. A press on a message posted by an
earlier process is matched by its custom_id alone and handled like any other."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

from adapters.discord.render import BUTTON_LABEL_LIMIT, BUTTONS_PER_ROW, button_style
from bot.domain.outputs import Button, cut
from bot.inbound.actions import BALLOT_TEMPLATE, BEST_TEMPLATE

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter


class HasAdapter(Protocol):
    adapter: DiscordAdapter


def _adapter(interaction: discord.Interaction[Any]) -> DiscordAdapter:
    client: HasAdapter = interaction.client
    return client.adapter


def _button(b: Button) -> discord.ui.Button[Any]:
    return discord.ui.Button(custom_id=b.custom_id, label=cut(b.label, BUTTON_LABEL_LIMIT), style=button_style(b.style))


def _label(item: discord.ui.Item[Any]) -> str:
    return (item.label or "") if isinstance(item, discord.ui.Button) else ""


class BallotButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BALLOT_TEMPLATE):
    """Yes / no / abstain on an amendment: policybot:ballot:{amendment}:{choice}."""

    def __init__(self, button: Button) -> None:
        super().__init__(_button(button))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> BallotButton:
        return cls(Button(match.group(0), _label(item), "secondary"))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).press(interaction, self.item.custom_id or "")


class BestButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BEST_TEMPLATE):
    """ "Best of this scenario" on a candidate: policybot:best:{candidate}."""

    def __init__(self, button: Button) -> None:
        super().__init__(_button(button))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> BestButton:
        return cls(Button(match.group(0), _label(item), "primary"))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _adapter(interaction).press(interaction, self.item.custom_id or "")


DYNAMIC_ITEMS = (BallotButton, BestButton)


def view_for(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    """A view holding the post's buttons as DynamicItems: nothing is kept in memory per message, so
    the buttons work for as long as the message exists, across restarts."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for i, b in enumerate(buttons):
        item: discord.ui.Item[Any]
        if BALLOT_TEMPLATE.fullmatch(b.custom_id):
            item = BallotButton(b)
        elif BEST_TEMPLATE.fullmatch(b.custom_id):
            item = BestButton(b)
        else:  # not one of ours to answer; shown, and answered "out of date" by no one: keep it inert
            item = _button(b)
            item.disabled = True
        item.row = i // BUTTONS_PER_ROW
        view.add_item(item)
    return view
