"""Buttons that survive a restart: one DynamicItem class per button template of the core's one list
(bot/inbound/actions.BUTTON_TEMPLATES), registered once with Client.add_dynamic_items. A press on a
message posted by an earlier process is matched by its custom_id alone and handled like any other."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

from adapters.discord.render import BUTTON_LABEL_LIMIT, BUTTONS_PER_ROW, button_style
from bot.domain.outputs import Button, cut
from bot.inbound.actions import BUTTON_TEMPLATES, ButtonTemplate, template_of

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

PolicyButton = discord.ui.DynamicItem[discord.ui.Button[Any]]


class HasAdapter(Protocol):
    adapter: DiscordAdapter


def _adapter(interaction: discord.Interaction[Any]) -> DiscordAdapter:
    # discord.py builds a DynamicItem itself on each press (from_custom_id): the client is all it is given
    client: HasAdapter = interaction.client
    return client.adapter


def _button(b: Button) -> discord.ui.Button[Any]:
    return discord.ui.Button(custom_id=b.custom_id, label=cut(b.label, BUTTON_LABEL_LIMIT), style=button_style(b.style))


def _dynamic_item(t: ButtonTemplate) -> type[PolicyButton]:
    class Item(discord.ui.DynamicItem[discord.ui.Button[Any]], template=t.pattern):
        def __init__(self, button: discord.ui.Button[Any]) -> None:
            super().__init__(button)

        @classmethod
        async def from_custom_id(
            cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
        ) -> Item:
            # the button as the message shows it (label, style), now answered by this template
            return cls(item if isinstance(item, discord.ui.Button) else _button(Button(match.group(0), "")))

        async def callback(self, interaction: discord.Interaction[Any]) -> None:
            await _adapter(interaction).press(interaction, self.custom_id)

    Item.__name__ = "".join(w.title() for w in t.name.split("-")) + "Button"
    Item.__doc__ = f"The {t.name} button: {t.template}."
    return Item


DYNAMIC_ITEMS: dict[str, type[PolicyButton]] = {t.name: _dynamic_item(t) for t in BUTTON_TEMPLATES}


def view_for(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    """A view holding the post's buttons as DynamicItems: nothing is kept in memory per message, so
    the buttons work for as long as the message exists, across restarts."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for i, b in enumerate(buttons):
        template = template_of(b.custom_id)
        item: discord.ui.Item[Any]
        if template is not None:
            item = DYNAMIC_ITEMS[template.name](_button(b))
        else:  # not one of ours to answer: shown, but inert, so no press goes unanswered
            item = _button(b)
            item.disabled = True
        item.row = i // BUTTONS_PER_ROW
        view.add_item(item)
    return view
