"""Stress cases (PolicyCraft's kinds): the model proposes hard scenarios for the policy, per clause
or for the whole policy; members accept them into the round, where they become scenarios and get
candidates like any other.

- loophole: abides by the letter of the policy but breaks its intent
- over-reach: the policy forbids something it should not
- unclear: the policy does not decide"""

from __future__ import annotations

import logging

from bot.domain.model import MAX_TEXT
from bot.domain.outputs import Field, Post, Subject
from bot.generation.calls import Malformed, Structured, load_json
from bot.generation.sampling import json_items
from bot.inbound.actions import accept_stress_case_button
from storage.tables import StressCaseRow

log = logging.getLogger("policybot.stress")

MAX_PER_KIND = 3


def cases_schema(n: int) -> Structured:
    item = {
        "type": "object",
        "properties": {
            "kind": {"type": "string"},
            "clause": {"type": ["integer", "null"]},
            "prompt": {"type": "string"},
            "why": {"type": "string"},
        },
        "required": ["kind", "prompt"],
    }
    cases = {"type": "array", "items": item, "maxItems": n}
    return Structured("stress_cases", {"type": "object", "properties": {"cases": cases}, "required": ["cases"]})


def parse_cases(text: str, kinds: tuple[str, ...], n: int, n_clauses: int) -> list[tuple[str, int | None, str, str]]:
    return cases_from(load_json(text), kinds, n, n_clauses)


def cases_from(data: object, kinds: tuple[str, ...], n: int, n_clauses: int) -> list[tuple[str, int | None, str, str]]:
    """(kind, clause number or None, prompt, why) for each usable case; Malformed if none or too many."""
    items = json_items(data, "cases")
    if len(items) > n:
        raise Malformed(f"expected at most {n} cases, got {len(items)}")
    out: list[tuple[str, int | None, str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("kind", "")).strip().lower()
        prompt = item.get("prompt")
        if kind not in kinds or not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_TEXT:
            continue
        clause = item.get("clause")
        number = clause if isinstance(clause, int) and 1 <= clause <= n_clauses else None
        out.append((kind, number, prompt.strip(), str(item.get("why") or "").strip()[:1000]))
    if not out:
        raise Malformed("no usable case (each needs a known kind and a non-empty prompt)")
    return out


def case_post(channel: str, case: StressCaseRow, clause_number: int | None, round_id: int) -> Post:
    """The case as members see it; its message is remembered on the case (to edit it once accepted)."""
    fields = [Field("What it tests", case.why)] if case.why else []
    if clause_number is not None:
        fields.append(Field("Clause", str(clause_number), inline=True))
    accepted = case.status == "accepted"
    return Post(
        channel=channel,
        title=f"Stress case #{case.id} ({case.kind}) for round #{round_id}"
        + (f": accepted as scenario #{case.scenario_id}" if accepted else ""),
        text=case.prompt,
        fields=tuple(fields),
        buttons=() if accepted else (accept_stress_case_button(case.id or 0),),
        subject=Subject("stress_case", case.id or 0),
        untrusted=True,
    )
