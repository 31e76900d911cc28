"""The precedents recorded from the rounds in scope, and the precedent checks made in them, so a
researcher can read which answers the community held up as "like this" and "not like this", and how
each proposed amendment and published version fared against them.

- `precedents`: one row per precedent a round in scope recorded: the scenario, the policy version, the
  candidates endorsed by consensus (or the bridging pick) and those objected to by consensus, with their
  counts overall and per opinion group, and whether it is still active. Who retired one is never
  exported (a moderator's id), nor their reason (their own words).
- `precedent-checks`: one row per check made in a round in scope: the precedent, what was checked (an
  amendment or the version the round published), the verdict, the judge's one-sentence reason, the new
  answer, both models, both prompt hashes and the judge prompt's version. A check may point at a
  precedent recorded in an earlier round. Members' private tries (/try) are never exported."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.export.context import Context
from bot.export.formats import Files, dumps
from bot.export.writers import Column, Output
from bot.generation.precedent_checks import NOT_CHECKED
from storage.tables import PrecedentAnswerRow, PrecedentCheckRow, PrecedentRow

PRECEDENTS, CHECKS = "precedents", "precedent-checks"

ANSWER = pa.struct(
    [
        pa.field("candidate_id", pa.int64()),
        pa.field("verdict", pa.string()),  # "like" or "unlike"
        pa.field("basis", pa.string()),  # "consensus" or "bridging"
        pa.field("endorse", pa.int64()),
        pa.field("object", pa.int64()),
        pa.field("pass", pa.int64()),
        pa.field("share", pa.float64()),
        pa.field("z", pa.float64()),
        pa.field("groups", pa.string()),  # counts per opinion group, as JSON
    ]
)
PRECEDENT_SCHEMA = pa.schema(
    [
        pa.field("precedent_id", pa.int64()),
        pa.field("round_id", pa.int64()),
        pa.field("policy", pa.string()),
        pa.field("policy_version", pa.int64()),
        pa.field("scenario_id", pa.int64()),
        pa.field("status", pa.string()),
        pa.field("support", pa.int64()),
        pa.field("members", pa.int64()),
        pa.field("rule", pa.string()),
        pa.field("like_candidate_ids", pa.list_(pa.int64())),
        pa.field("unlike_candidate_ids", pa.list_(pa.int64())),
        pa.field("answers", pa.list_(ANSWER)),
    ]
)
CHECK_SCHEMA = pa.schema(
    [
        pa.field("check_id", pa.int64()),
        pa.field("round_id", pa.int64()),
        pa.field("precedent_id", pa.int64()),
        pa.field("subject", pa.string()),  # "amendment" or "version"
        pa.field("amendment_id", pa.int64()),
        pa.field("policy_version_id", pa.int64()),
        pa.field("verdict", pa.string()),  # consistent, inconsistent, unclear or not_checked
        pa.field("reason", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("answer_model", pa.string()),
        pa.field("answer_prompt_hash", pa.string()),
        pa.field("judge_model", pa.string()),
        pa.field("judge_prompt_version", pa.string()),
        pa.field("judge_prompt_hash", pa.string()),
        pa.field("not_checked_because", pa.string()),
    ]
)


def _or_none(text: str) -> str | None:
    return text if text else None


def _answer(a: PrecedentAnswerRow) -> dict[str, object]:
    return {
        "candidate_id": a.candidate_id,
        "verdict": a.verdict,
        "basis": a.basis,
        "endorse": a.endorsements,
        "object": a.objections,
        "pass": a.passes,
        "share": a.share,
        "z": a.z,
        "groups": a.groups_json or "{}",
    }


def precedent_row(ctx: Context, p: PrecedentRow, answers: list[PrecedentAnswerRow]) -> dict[str, object]:
    r = ctx.rounds[p.round_id]
    return {
        "precedent_id": p.id,
        "round_id": p.round_id,
        "policy": r.policy,
        "policy_version": r.version,
        "scenario_id": p.scenario_id,
        "status": p.status,
        "support": p.support,
        "members": p.members,
        "rule": p.rule,
        "like_candidate_ids": [a.candidate_id for a in answers if a.verdict == "like"],
        "unlike_candidate_ids": [a.candidate_id for a in answers if a.verdict == "unlike"],
        "answers": [_answer(a) for a in answers],
    }


def check_row(c: PrecedentCheckRow) -> dict[str, object]:
    kind, _, number = c.subject.partition(":")
    return {
        "check_id": c.id,
        "round_id": c.round_id,
        "precedent_id": c.precedent_id,
        "subject": kind,
        "amendment_id": c.amendment_id,
        "policy_version_id": int(number) if kind == "version" and number.isdigit() else None,
        "verdict": c.verdict,
        "reason": _or_none(c.reason),
        "answer": _or_none(c.answer),
        "answer_model": _or_none(c.answer_model),
        "answer_prompt_hash": _or_none(c.answer_prompt_hash),
        "judge_model": _or_none(c.judge_model),
        "judge_prompt_version": _or_none(c.judge_prompt_version),
        "judge_prompt_hash": _or_none(c.judge_prompt_hash),
        "not_checked_because": _or_none(c.detail),
    }


def _files(name: str, root: Path, schema: pa.Schema, *, jsonl: bool, parquet: bool) -> Files:
    return Files(name, root, [Column(f.name, f.type, i) for i, f in enumerate(schema)], jsonl=jsonl, parquet=parquet)


def _write(files: Files, rows: list[dict[str, object]]) -> list[Output]:
    for row in rows:
        if files.jsonl is not None:
            files.jsonl.write(dumps(row))
        if files.parquet is not None:
            files.parquet.add(*row.values())
    return files.close()


async def precedent_rows(s: AsyncSession, ctx: Context) -> list[dict[str, object]]:
    precedents = (
        await s.exec(select(PrecedentRow).where(col(PrecedentRow.round_id).in_(ctx.round_ids)).order_by(col(PrecedentRow.id)))
    ).all()
    ids = [p.id for p in precedents if p.id is not None]
    answers: dict[int, list[PrecedentAnswerRow]] = {}
    if ids:
        q = select(PrecedentAnswerRow).where(col(PrecedentAnswerRow.precedent_id).in_(ids)).order_by(col(PrecedentAnswerRow.id))
        for a in (await s.exec(q)).all():
            answers.setdefault(a.precedent_id, []).append(a)
    return [precedent_row(ctx, p, answers.get(p.id or 0, [])) for p in precedents]


async def check_rows(s: AsyncSession, ctx: Context) -> list[dict[str, object]]:
    q = select(PrecedentCheckRow).where(col(PrecedentCheckRow.round_id).in_(ctx.round_ids)).order_by(col(PrecedentCheckRow.id))
    return [check_row(c) for c in (await s.exec(q)).all()]


async def write_precedents(
    s: AsyncSession, root: Path, ctx: Context, formats: tuple[str, ...], *, jsonl: bool, parquet: bool
) -> tuple[list[Output], dict[str, int]]:
    """The files of whichever of the two formats are asked for, and their row counts."""
    outputs: list[Output] = []
    counts: dict[str, int] = {}
    if PRECEDENTS in formats:
        rows = await precedent_rows(s, ctx)
        outputs += _write(_files(PRECEDENTS, root, PRECEDENT_SCHEMA, jsonl=jsonl, parquet=parquet), rows)
        counts["precedents"] = len(rows)
    if CHECKS in formats:
        rows = await check_rows(s, ctx)
        outputs += _write(_files(CHECKS, root, CHECK_SCHEMA, jsonl=jsonl, parquet=parquet), rows)
        counts["precedent_checks"] = len(rows)
        counts["precedent_checks_not_checked"] = sum(1 for r in rows if r["verdict"] == NOT_CHECKED)
    return outputs, counts
