"""Modals where a form fits better than a line of text: opening a round and proposing an amendment.

`/round open` with nothing after it opens the round form; `/amend` alone (or `/amend propose
[round]`) opens the amendment form. A submission is read into the same command dataclass the text
form gives; a field that cannot be read is shown as an error on that field, in the modal."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.domain import commands as c
from bot.domain.commands import ROUND_DEFAULTS as D
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind

OPEN_ROUND = "policybot:open-round"
AMEND = "policybot:amend"

Block = dict[str, Any]
THRESHOLDS = [(">1/2", "more than half"), (">=2/3", "at least two thirds")]  # the default must be one of them


class FormErrors(Exception):
    """Fields of a submitted modal that could not be read: block_id → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _input(
    block_id: str, label: str, *, initial: str = "", placeholder: str = "", optional: bool = False, multiline: bool = False
) -> Block:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = _text(placeholder)
    return {"type": "input", "block_id": block_id, "label": _text(label), "element": element, "optional": optional}


def _number(block_id: str, label: str, *, initial: str = "", optional: bool = False, minimum: int = 1) -> Block:
    element: dict[str, Any] = {
        "type": "number_input",
        "action_id": "value",
        "is_decimal_allowed": False,
        "min_value": str(minimum),
    }
    if initial:
        element["initial_value"] = initial
    return {"type": "input", "block_id": block_id, "label": _text(label), "element": element, "optional": optional}


def _select(block_id: str, label: str, options: list[tuple[str, str]], initial: str) -> Block:
    opts = [{"text": _text(text), "value": value} for value, text in options]
    element: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": opts}
    element["initial_option"] = next(o for o in opts if o["value"] == initial)
    return {"type": "input", "block_id": block_id, "label": _text(label), "element": element}


def open_round_view(channel: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": OPEN_ROUND,
        "private_metadata": json.dumps({"channel": channel}),
        "title": _text("Open a policy round"),
        "submit": _text("Open round"),
        "close": _text("Cancel"),
        "blocks": [
            _input("policy", "Policy", placeholder="the policy's name, e.g. kindness"),
            _input("scenarios", "Scenarios", placeholder="scenario ids, e.g. 1,2,3 (see /scenario list)"),
            _number("k", "Candidate responses per scenario", initial=str(D.k)),
            _input("review", "REVIEW phase lasts", initial=D.review),
            _input("amend", "AMEND phase lasts", initial=D.amend),
            _input("vote", "VOTE phase lasts", initial=D.vote),
            _number("quorum", "Quorum (ballots needed)", initial=str(D.quorum)),
            _select("threshold", "Threshold", THRESHOLDS, D.threshold),
        ],
    }


def amend_view(channel: str, round_id: int | None = None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": AMEND,
        "private_metadata": json.dumps({"channel": channel}),
        "title": _text("Propose an amendment"),
        "submit": _text("Propose"),
        "close": _text("Cancel"),
        "blocks": [
            _number("round", "Round", initial=str(round_id) if round_id else ""),
            _select(
                "kind",
                "Change",
                [("replace", "replace a clause"), ("add", "add a clause"), ("remove", "remove a clause")],
                "replace",
            ),
            _number("clause", "Clause number (to add after, for a new clause)", optional=True),
            _input("text", "Clause text (not for a removal)", optional=True, multiline=True),
            _input("rationale", "Why", optional=True, multiline=True),
        ],
    }


def _values(view: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for element in actions.values():
            value = element.get("value")
            if value is None and element.get("selected_option"):
                value = element["selected_option"].get("value")
            out[block_id] = str(value or "").strip()
    return out


def channel_of(view: dict[str, Any]) -> str:
    try:
        return str(json.loads(view.get("private_metadata") or "{}").get("channel", ""))
    except json.JSONDecodeError:
        return ""


def _int(values: dict[str, str], key: str, errors: dict[str, str], what: str, *, optional: bool = False) -> int | None:
    raw = values.get(key, "").lstrip("#")
    if not raw and optional:
        return None
    if not re.fullmatch(r"\d{1,9}", raw):
        errors[key] = f"Give the {what} as a whole number."
        return None
    return int(raw)


def open_round_command(view: dict[str, Any], actor: Actor) -> c.OpenRound:
    values = _values(view)
    errors: dict[str, str] = {}
    policy = values.get("policy", "")
    if not policy or " " in policy:
        errors["policy"] = "Give the policy's name (one word, as in /policy list)."
    ids: list[int] = []
    for part in re.split(r"[,\s]+", values.get("scenarios", "")):
        if not part:
            continue
        if not re.fullmatch(r"#?\d{1,9}", part):
            errors["scenarios"] = f"'{part[:20]}' is not a scenario id; give ids like 1,2,3."
            break
        ids.append(int(part.lstrip("#")))
    if not ids and "scenarios" not in errors:
        errors["scenarios"] = "Give at least one scenario id (see /scenario list)."
    k = _int(values, "k", errors, "number of candidates")
    quorum = _int(values, "quorum", errors, "quorum")
    channel = channel_of(view)
    if not channel:
        errors["policy"] = "This form lost its channel; run /round open again in the channel for the round."
    if errors:
        raise FormErrors(errors)
    # a field left empty takes OpenRound's default
    given: dict[str, Any] = {"k": k, "quorum": quorum, **{f: values.get(f) for f in ("review", "amend", "vote", "threshold")}}
    return c.OpenRound(actor, policy, channel, tuple(ids), **{f: v for f, v in given.items() if v})


def amend_command(view: dict[str, Any], actor: Actor) -> c.ProposeAmendment:
    values = _values(view)
    errors: dict[str, str] = {}
    round_id = _int(values, "round", errors, "round")
    clause = _int(values, "clause", errors, "clause number", optional=True)
    try:
        kind = AmendmentKind(values.get("kind", ""))
    except ValueError:
        errors["kind"] = "Choose add, replace or remove."
        kind = AmendmentKind.REPLACE
    text = values.get("text", "")
    if kind != AmendmentKind.REMOVE and not text:
        errors["text"] = f"Write the clause text to {kind.value}."
    if kind == AmendmentKind.REMOVE and text:
        errors["text"] = "A removal takes no clause text; give your reasons under 'Why'."
    if kind != AmendmentKind.ADD and clause is None and "clause" not in errors:
        errors["clause"] = f"Give the number of the clause to {kind.value}."
    if errors:
        raise FormErrors(errors)
    return c.ProposeAmendment(actor, round_id or 0, kind, clause, text, values.get("rationale", ""))
