"""The amendments of the rounds in scope, so ballots and preview candidates (amendment_id) can be read
with the text they were about: kind, clause, text, author kind (member or bot, never who), rationale,
and the published tally and result.

Privacy: a member's text and rationale are withheld (null, with the reason in `withheld`) when the
author opted out, has not consented where the community requires it, or erased their data; a bot
draft's rationale is withheld when its evidence quotes a reason of a member who is left out."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from bot.domain.model import AmendmentStatus
from bot.domain.tally import ANCHOR_START
from bot.export.context import AmendmentInfo, Context
from bot.export.formats import STRINGS, Files, dumps
from bot.export.writers import Column, Output

NAME = "amendments"
SCHEMA = pa.schema(
    [
        pa.field("amendment_id", pa.int64()),
        pa.field("round_id", pa.int64()),
        pa.field("policy", pa.string()),
        pa.field("policy_version", pa.int64()),
        pa.field("clause_ids", STRINGS),
        pa.field("kind", pa.string()),
        pa.field("clause_id", pa.string()),
        pa.field("clause_text", pa.string()),
        pa.field("position", pa.string()),
        pa.field("text", pa.string()),
        pa.field("author_kind", pa.string()),
        pa.field("rationale", pa.string()),
        pa.field("withheld", pa.string()),
        pa.field("rationale_withheld", pa.string()),
        pa.field("status", pa.string()),
        pa.field("yes", pa.int64()),
        pa.field("no", pa.int64()),
        pa.field("abstain", pa.int64()),
        pa.field("passed", pa.bool_()),
        pa.field("adopted", pa.bool_()),
        pa.field("result", pa.string()),
        pa.field("result_reason", pa.string()),
    ]
)


def result_of(a: AmendmentInfo, tally: dict[str, object] | None) -> str:
    if a.status == AmendmentStatus.WITHDRAWN.value:
        return "withdrawn"
    if tally is None:
        return "vote not closed"
    if tally["adopted"]:
        return "adopted"
    return "passed, not adopted" if tally["passed"] else "rejected"


def _position(a: AmendmentInfo) -> str | None:
    """Where an addition goes, in words; None for replace and remove (they name their clause)."""
    if a.kind != "add":
        return None
    if a.clause_key == ANCHOR_START:
        return "before the first clause"
    return "at the end" if a.clause_key is None else f"after {a.clause_key}"


def amendment_row(ctx: Context, a: AmendmentInfo) -> dict[str, object]:
    r = ctx.rounds[a.round_id]
    tally = next((t for t in ctx.tallies if t["amendment_id"] == a.id), None)
    clause = {c.key: c.text for c in r.clauses}
    target = a.clause_key if a.clause_key != ANCHOR_START else None
    return {
        "amendment_id": a.id,
        "round_id": a.round_id,
        "policy": r.policy,
        "policy_version": r.version,
        "clause_ids": list(r.clause_ids),
        "kind": a.kind,
        "clause_id": target,
        "clause_text": clause.get(target) if target is not None else None,
        "position": _position(a),
        "text": None if a.withheld else a.text,
        "author_kind": a.author_kind,
        "rationale": None if a.rationale_withheld else a.rationale,
        "withheld": a.withheld,
        "rationale_withheld": a.rationale_withheld,
        "status": a.status,
        "yes": None if tally is None else tally["yes"],
        "no": None if tally is None else tally["no"],
        "abstain": None if tally is None else tally["abstain"],
        "passed": None if tally is None else tally["passed"],
        "adopted": None if tally is None else tally["adopted"],
        "result": result_of(a, tally),
        "result_reason": None if tally is None else (str(tally["reason"]) or None),
    }


def write_amendments(root: Path, ctx: Context, *, jsonl: bool, parquet: bool) -> list[Output]:
    files = Files(NAME, root, [Column(f.name, f.type, i) for i, f in enumerate(SCHEMA)], jsonl=jsonl, parquet=parquet)
    for a in sorted(ctx.amendments.values(), key=lambda x: x.id):
        row = amendment_row(ctx, a)
        if files.jsonl is not None:
            files.jsonl.write(dumps(row))
        if files.parquet is not None:
            files.parquet.add(*row.values())
    return files.close()
