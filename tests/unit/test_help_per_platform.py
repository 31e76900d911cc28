"""Help is written for the platform that asks: the console's names every command its parser reads
and nothing else; Discord's names exactly the commands and subcommands of its recorded tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.console.repl import CONSOLE_COMMANDS
from adapters.discord.commands.single import DISCORD_COMMANDS
from bot.domain.commands import Actor, Help, PlatformCommands
from bot.errors import CommandError
from bot.inbound.help import help_text
from bot.inbound.parser import command_names, parse
from tests.support.help import named, named_paths

TREE = Path(__file__).resolve().parents[1] / "discord" / "command_tree.json"
SUBCOMMAND, GROUP = 1, 2
ALICE = Actor("console", "c", "alice")


def test_the_console_help_names_every_command_the_parser_reads_and_no_other() -> None:
    names = command_names()
    text = help_text("", CONSOLE_COMMANDS)
    shown = {f"{c} {s}" if f"{c} {s}" in names else c for c, s in named(text)}
    own = {("as", ""), ("quit", ""), ("exit", "")}  # the console's own, read by its session
    assert shown == names | {c for c, _ in own}
    for command, sub in named(text) - own:
        try:
            parse(f"/{command} {sub}".strip(), ALICE, "general")
        except CommandError as e:
            assert "Unknown" not in e.message, (command, sub, e.message)


def discord_paths() -> tuple[set[str], set[str]]:
    """Every command of the recorded tree as "policy create" (a subcommand) or "vote"; and those with subcommands."""
    tree = json.loads(TREE.read_text())
    paths: set[str] = set()
    grouped: set[str] = set()
    for command in tree:
        subs = [o["name"] for o in command.get("options", []) if o["type"] in (SUBCOMMAND, GROUP)]
        if subs:
            grouped.add(command["name"])
        paths |= {f"{command['name']} {s}" for s in subs} or {command["name"]}
    return paths, grouped


def test_the_discord_help_names_exactly_its_command_tree() -> None:
    paths, grouped = discord_paths()
    assert named_paths(help_text("", DISCORD_COMMANDS), grouped) == paths
    # a topic is written for Discord too: /stress proposes with a subcommand there
    assert help_text("stress", DISCORD_COMMANDS).startswith("/stress propose <round>")


def test_the_core_help_is_every_command_and_a_platform_sees_only_its_own() -> None:
    everything = help_text()
    assert "/scenario import" in everything and "/react" in everything
    few = PlatformCommands({"help": "/aide", "vote": "/vote", "scenario": "/scenario", "scenario import": ""})
    shown = help_text("", few)
    assert named(shown) == {("aide", ""), ("vote", ""), ("scenario", "add"), ("scenario", "list"), ("scenario", "remove")}
    assert help_text("react", few) == shown  # a topic it does not offer: the overview
    with pytest.raises(CommandError, match="Try /aide"):
        parse("help", ALICE, "c", commands=few)
    assert parse("/help vote", ALICE, "c", commands=few) == Help(ALICE, "vote", commands=few)
