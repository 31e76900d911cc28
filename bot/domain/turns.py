"""A scenario's conversation: read from text (`user: … || assistant: …`), checked, and stored as
JSON. Pure functions: the parser, the adapters and the handlers share them."""

from __future__ import annotations

import json
import re

from bot.domain.model import Turn, check_text
from bot.errors import CommandError

MAX_TURNS = 20
_ROLE = re.compile(r"^(user|assistant)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)


def check_turns(turns: tuple[Turn, ...] | list[Turn], where: str = "scenario") -> tuple[Turn, ...]:
    if not turns:
        raise CommandError(f"The {where} is empty.")
    if len(turns) > MAX_TURNS:
        raise CommandError(f"The {where} has {len(turns)} turns; the limit is {MAX_TURNS}.")
    out = []
    for i, t in enumerate(turns, 1):
        if t.role not in ("user", "assistant"):
            raise CommandError(f"Turn {i} of the {where} has role '{t.role[:20]}'; use 'user' or 'assistant'.")
        out.append(Turn(t.role, check_text(t.content, f"text of turn {i} of the {where}")))
    if out[-1].role != "user":
        raise CommandError(f"The {where} must end with a user turn: that is what the model answers.")
    return tuple(out)


def turns_from_text(text: str) -> tuple[Turn, ...]:
    """'user: … / assistant: …' lines make a conversation; anything else is one user turn."""
    lines = text.strip().splitlines()
    if not lines or not _ROLE.match(lines[0].strip()):
        return (Turn("user", text.strip()),)
    turns: list[Turn] = []
    for line in lines:
        m = _ROLE.match(line.strip())
        if m:
            turns.append(Turn(m.group(1).lower(), m.group(2).strip()))
        elif turns:
            turns[-1] = Turn(turns[-1].role, (turns[-1].content + "\n" + line).strip())
    return tuple(turns)


def turns_json(turns: tuple[Turn, ...]) -> str:
    return json.dumps([{"role": t.role, "content": t.content} for t in turns], ensure_ascii=False)


def turns_from_json(text: str) -> tuple[Turn, ...]:
    return tuple(Turn(t["role"], t["content"]) for t in json.loads(text))
