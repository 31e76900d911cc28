"""The raw event log: every reaction event of the exported members, in the order they happened, and
the ballot events of rounds whose vote is over (ballots stay secret while a vote is open)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import Phase, aware
from bot.export.context import Context
from bot.export.formats import Files
from bot.export.pseudonym import Pseudonyms
from bot.export.writers import Column, Output
from storage.tables import AmendmentRow, BallotEventRow, ReactionEventRow

NAME = "events"
YIELD_ROWS = 5000
EVENT_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("type", pa.string()),
    ("seq", pa.int64()),
    ("at", pa.timestamp("us", tz="UTC")),  # ISO 8601 with its offset in JSON Lines
    ("annotator_id", pa.string()),
    ("round_id", pa.int64()),
    ("scenario_id", pa.int64()),
    ("candidate_id", pa.int64()),
    ("amendment_id", pa.int64()),
    ("stance", pa.string()),
    ("action", pa.string()),
    ("choice", pa.string()),
    ("reason", pa.string()),
)


class _EventFiles:
    def __init__(self, root: Path, *, jsonl: bool, parquet: bool) -> None:
        self.files = Files(NAME, root, [Column(n, t, i) for i, (n, t) in enumerate(EVENT_FIELDS)], jsonl=jsonl, parquet=parquet)
        self.counts = {"reaction": 0, "ballot": 0}

    def emit(self, values: tuple[object, ...]) -> None:
        self.counts[str(values[0])] += 1
        if self.files.jsonl is not None:
            row = dict(zip((n for n, _ in EVENT_FIELDS), values, strict=True))
            at = row["at"]
            row["at"] = at.isoformat() if isinstance(at, datetime) else None
            self.files.jsonl.write(json.dumps(row, ensure_ascii=False))
        if self.files.parquet is not None:
            self.files.parquet.add(*values)


def _when(at: datetime | None) -> datetime | None:
    moment = aware(at)
    return moment.astimezone(UTC) if moment else None


async def _reactions(s: AsyncSession, ctx: Context, pseudonyms: Pseudonyms, out: _EventFiles) -> None:
    excluded = ctx.privacy.excluded
    R = ReactionEventRow
    stmt = (
        select(
            col(R.id), col(R.at), col(R.member), col(R.round_id), col(R.candidate_id), col(R.stance), col(R.action), col(R.reason)
        )
        .where(col(R.community) == ctx.scope.community, col(R.round_id).in_(ctx.round_ids))
        .order_by(col(R.id))
        .execution_options(yield_per=YIELD_ROWS)
    )
    async for rows in (await (await s.connection()).stream(stmt)).partitions():
        for seq, at, member, round_id, cand, stance, action, reason in rows:
            c = ctx.candidates.get(cand)
            if c is None or excluded(member) is not None:
                continue
            g = ctx.groups[c.group]
            values = ("reaction", seq, _when(at), pseudonyms(member), round_id, g.scenario_id, cand, g.amendment_id)
            out.emit((*values, stance, action, "", reason))


async def _ballots(s: AsyncSession, ctx: Context, pseudonyms: Pseudonyms, out: _EventFiles) -> None:
    over = [r.id for r in ctx.rounds.values() if r.phase in (Phase.CLOSED.value, Phase.CANCELLED.value)]
    if not over:
        return
    B = BallotEventRow
    ballots = (
        select(col(B.id), col(B.at), col(B.member), col(B.round_id), col(B.amendment_id), col(B.choice))
        .where(col(B.community) == ctx.scope.community, col(B.round_id).in_(over))
        .where(col(B.amendment_id).in_(select(col(AmendmentRow.id)).where(col(AmendmentRow.community) == ctx.scope.community)))
        .order_by(col(B.id))
        .execution_options(yield_per=YIELD_ROWS)
    )
    async for brows in (await (await s.connection()).stream(ballots)).partitions():
        for seq, at, member, round_id, amendment, choice in brows:
            if ctx.privacy.excluded(member) is None:
                out.emit(("ballot", seq, _when(at), pseudonyms(member), round_id, 0, 0, amendment, "", "", choice, ""))


async def write_events(
    s: AsyncSession, root: Path, ctx: Context, pseudonyms: Pseudonyms, *, jsonl: bool, parquet: bool
) -> tuple[list[Output], dict[str, int]]:
    out = _EventFiles(root, jsonl=jsonl, parquet=parquet)
    await _reactions(s, ctx, pseudonyms, out)
    await _ballots(s, ctx, pseudonyms, out)
    return out.files.close(), out.counts
