"""The synced command tree, as Discord gets it: exactly the recorded one (command_tree.json, updated
deliberately with each change to a command), every option described, every id within the
database's integer range, /round open's options naming the core's defaults, and no command hidden
from moderators by role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.domain.bounds import MAX_INT
from bot.domain.commands import ROUND_DEFAULTS
from tests.discord.conftest import StartBot
from tests.discord.fake_discord import FakeDiscord

RECORDED = Path(__file__).with_name("command_tree.json")  # the payload Discord gets, as last reviewed
PLACEHOLDERS = {"", "…", "...", "-", "—"}  # discord.py describes an option it was not told about as "…"
SUBCOMMAND, GROUP, INTEGER = 1, 2, 4
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


def options(tree: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(the command's path, the option) for every option of every command and subcommand."""

    def walk(items: list[dict[str, Any]], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for item in items:
            if item.get("type") in (SUBCOMMAND, GROUP):
                yield from walk(item.get("options", []), f"{path} {item['name']}")
            else:
                yield path, item

    for command in tree:
        yield from walk(command.get("options", []), "/" + command["name"])


async def test_the_synced_tree_is_the_recorded_one(fake: FakeDiscord, start_bot: StartBot) -> None:
    await start_bot()
    assert fake.synced["global"] == json.loads(RECORDED.read_text())


async def test_every_option_is_described_and_every_id_fits(fake: FakeDiscord, start_bot: StartBot) -> None:
    await start_bot()
    synced = fake.synced["global"]
    found = list(options(synced))
    assert len(found) >= 90  # every command's options are looked at
    placeholders = [f"{path} {o['name']}" for path, o in found if o["description"].strip() in PLACEHOLDERS]
    assert placeholders == []
    assert all(1 <= len(o["description"]) <= 100 for _, o in found)  # Discord's limit
    too_big = [f"{path} {o['name']}" for path, o in found if o["type"] == INTEGER and o.get("max_value", 0) > MAX_INT]
    assert too_big == []
    ids = [o for path, o in found if o["name"] in ("round", "amendment", "candidate", "scenario", "case")]
    assert ids and all(o["max_value"] == MAX_INT for o in ids)
    opened = by_name(by_name(by_name(synced)["round"]["options"])["open"]["options"])
    for name, default in NAMING_THEIR_DEFAULT.items():
        assert f"(default {default}" in opened[name]["description"], (name, opened[name]["description"])


async def test_no_command_is_hidden_from_moderators_by_role(fake: FakeDiscord, start_bot: StartBot) -> None:
    # default_member_permissions would show a command only to members with that permission, never to
    # a member whose moderator right is the policybot role; the core enforces who may do what
    await start_bot()
    hidden = {c["name"]: c["default_member_permissions"] for c in fake.synced["global"] if c["default_member_permissions"]}
    assert hidden == {}
