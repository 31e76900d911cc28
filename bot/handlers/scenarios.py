"""Scenarios: add (single- or multi-turn), list, remove, import from JSONL or text."""

from __future__ import annotations

import json
import re

from sqlmodel import col, select

from bot.domain.commands import AddScenario, ImportScenarios, ListScenarios, RemoveScenario
from bot.domain.model import Turn
from bot.domain.outputs import Outcome, Reply
from bot.domain.turns import check_turns, turns_from_text, turns_json
from bot.errors import CommandError
from bot.rounds.queries import scenario_title
from bot.services import Services
from storage.tables import ScenarioRow

MAX_IMPORT = 500


async def add_scenario(cmd: AddScenario, svc: Services) -> Outcome:
    turns = check_turns(cmd.turns)
    title = cmd.title.strip()
    if len(title) > 200:
        raise CommandError("The scenario title is over 200 characters.")
    async with svc.uow() as uow:
        row = ScenarioRow(
            community=cmd.actor.community,
            title=title,
            turns_json=turns_json(turns),
            created_by=cmd.actor.member,
            created_at=svc.now(),
        )
        uow.session.add(row)
        await uow.commit()
    kind = f"a conversation of {len(turns)} turns" if len(turns) > 1 else "a single prompt"
    return Outcome(Reply(f"Added scenario #{row.id} ({kind}): {scenario_title(row)}"))


async def list_scenarios(cmd: ListScenarios, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        rows = (
            await uow.session.exec(
                select(ScenarioRow)
                .where(ScenarioRow.community == cmd.actor.community, col(ScenarioRow.removed).is_(False))
                .order_by(col(ScenarioRow.id))
            )
        ).all()
    if not rows:
        return Outcome(Reply("No scenarios yet: add one with /scenario add <prompt>."))
    return Outcome(Reply("Scenarios:\n" + "\n".join(f"#{r.id} {scenario_title(r)}" for r in rows)))


async def remove_scenario(cmd: RemoveScenario, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        row = await uow.session.get(ScenarioRow, cmd.scenario_id)
        if row is None or row.community != cmd.actor.community or row.removed:
            raise CommandError(f"There is no scenario #{cmd.scenario_id} in this community.")
        if row.created_by != cmd.actor.member and not cmd.actor.is_moderator:
            raise CommandError("Only the member who added a scenario, or a moderator, can remove it.")
        row.removed = True  # rounds that used it keep it
        uow.session.add(row)
        await uow.commit()
    return Outcome(Reply(f"Removed scenario #{cmd.scenario_id}."))


def _jsonl_scenario(n: int, line: str) -> tuple[str, tuple[Turn, ...]]:
    """One line of a JSONL import: {"prompt": "…"} or {"messages": [{"role", "content"}, …]}, with a title."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise CommandError(f"Line {n} is not valid JSON ({e.msg}).") from None
    if not isinstance(obj, dict):
        raise CommandError(f'Line {n}: expected an object like {{"prompt": "…"}}.')
    title = str(obj.get("title", ""))[:200]
    if isinstance(obj.get("prompt"), str):
        return title, check_turns((Turn("user", obj["prompt"]),), f"scenario on line {n}")
    raw = obj.get("messages") or obj.get("turns")
    if not isinstance(raw, list):
        raise CommandError(f"Line {n}: needs 'prompt' (text) or 'messages' (a list of role/content).")
    if not all(isinstance(t, dict) and isinstance(t.get("role"), str) and isinstance(t.get("content"), str) for t in raw):
        raise CommandError(f"Line {n}: each message needs a string 'role' and 'content'.")
    return title, check_turns(tuple(Turn(t["role"], t["content"]) for t in raw), f"scenario on line {n}")


def parse_import(content: str, fmt: str) -> list[tuple[str, tuple[Turn, ...]]]:
    """All scenarios of a file, validated; the first bad one stops the import (nothing is added)."""
    if fmt not in ("auto", "jsonl", "text"):
        raise CommandError(f"Unknown import format '{fmt[:20]}': use jsonl or text.")
    stripped = content.strip()
    if not stripped:
        raise CommandError("The file is empty.")
    if fmt == "auto":
        fmt = "jsonl" if stripped.startswith("{") else "text"
    if fmt == "jsonl":
        found = [_jsonl_scenario(n, line) for n, line in enumerate(content.splitlines(), 1) if line.strip()]
    else:
        blocks = [b for b in re.split(r"\n\s*\n", content.replace("\r\n", "\n")) if b.strip()]
        found = [("", check_turns(turns_from_text(block), f"scenario {i} of the file")) for i, block in enumerate(blocks, 1)]
    if len(found) > MAX_IMPORT:
        raise CommandError(f"The file has {len(found)} scenarios; import at most {MAX_IMPORT} at once.")
    return found


async def import_scenarios(cmd: ImportScenarios, svc: Services) -> Outcome:
    found = parse_import(cmd.content, cmd.format)
    now = svc.now()
    async with svc.uow() as uow:
        rows = [
            ScenarioRow(
                community=cmd.actor.community,
                title=title,
                turns_json=turns_json(turns),
                created_by=cmd.actor.member,
                created_at=now,
            )
            for title, turns in found
        ]
        uow.session.add_all(rows)
        await uow.commit()
    ids = [r.id for r in rows]
    return Outcome(Reply(f"Imported {len(rows)} scenario(s): #{ids[0]} to #{ids[-1]}."))
