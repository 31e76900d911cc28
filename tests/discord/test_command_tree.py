"""The synced command tree is the one Discord had before the commands were split by group: the same
commands, subcommands and options (names, types, limits, choices, autocomplete, permissions) and the
same descriptions, except that /round open's options now name their defaults, taken from the core."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bot.domain.commands import ROUND_DEFAULTS
from tests.discord.conftest import StartBot
from tests.discord.fake_discord import FakeDiscord

BEFORE = Path(__file__).with_name("command_tree.json")  # the payload synced before the split, as Discord got it
ADDED_SINCE = {"precedent", "try"}  # commands added after the split (precedents and /try)
HELP_TOPICS_ADDED_SINCE = {"try", "precedent"}
NAMING_THEIR_DEFAULT = {
    "k": ROUND_DEFAULTS.k,
    "review": ROUND_DEFAULTS.review,
    "amend": ROUND_DEFAULTS.amend,
    "vote": ROUND_DEFAULTS.vote,
    "quorum": ROUND_DEFAULTS.quorum,
    "quorum_share": f"{ROUND_DEFAULTS.quorum_share:g}",
    "threshold": ROUND_DEFAULTS.threshold,
    "bridging": ROUND_DEFAULTS.bridging_min_voters,
}


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in items}


def open_options(tree: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    round_ = by_name(tree)["round"]
    return by_name(by_name(round_["options"])["open"]["options"])


def as_before(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The synced tree without what was added since the split."""
    out = [copy.deepcopy(c) for c in tree if c["name"] not in ADDED_SINCE]
    for option in by_name(by_name(out)["help"]["options"]).values():
        option["choices"] = [x for x in option.get("choices", []) if x["value"] not in HELP_TOPICS_ADDED_SINCE]
    return out


def without_open_descriptions(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(tree)
    for name, option in open_options(out).items():
        if name in NAMING_THEIR_DEFAULT:
            option.pop("description")
    return sorted(out, key=lambda c: c["name"])


async def test_the_synced_tree_is_the_one_before_the_split(fake: FakeDiscord, start_bot: StartBot) -> None:
    await start_bot()
    synced = as_before(fake.synced["global"])
    assert {c["name"] for c in fake.synced["global"]} - {c["name"] for c in synced} == ADDED_SINCE
    before = json.loads(BEFORE.read_text())
    assert [c["name"] for c in sorted(synced, key=lambda c: c["name"])] == sorted(c["name"] for c in before)
    assert without_open_descriptions(synced) == without_open_descriptions(before)
    for name, default in NAMING_THEIR_DEFAULT.items():
        description = open_options(synced)[name]["description"]
        assert f"(default {default}" in description and len(description) <= 100, (name, description)
