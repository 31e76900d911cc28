"""Reading the commands a help text names, independently of how bot.inbound.help writes them."""

from __future__ import annotations

import re

# "/round open …", "/stress <round>", "/try keep: …"; never "2/3" or "Europe/Paris"
_COMMAND = re.compile(r"(?:^|(?<=\s))/([a-z]+)(?: ([a-z][a-z-]*))?", re.MULTILINE)


def named(text: str) -> set[tuple[str, str]]:
    """(command, the word after it if it is a word) for every command the text names."""
    return {(m.group(1), m.group(2) or "") for m in _COMMAND.finditer(text)}


def named_paths(text: str, with_subcommands: set[str]) -> set[str]:
    """The commands named, as "round open" for a command with subcommands and "vote" for one without
    (a group named alone, as in "the role set in /settings", names none of its commands)."""
    return {f"{c} {s}" if c in with_subcommands else c for c, s in named(text) if s or c not in with_subcommands}
