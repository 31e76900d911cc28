"""The raw event log: every reaction event of the exported members, in the order they happened, and
the ballot events of rounds whose vote is over (ballots stay secret while a vote is open)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import Phase, aware
from bot.export.context import Context
from bot.export.pseudonym import Pseudonyms
from bot.export.writers import Column, JsonlFile, Output, ParquetFile
from storage.tables import AmendmentRow, BallotEventRow, ReactionEventRow

YIELD_ROWS = 5000
EVENT_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("type", pa.string()),
    ("seq", pa.int64()),
    ("at", pa.string()),
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


async def write_events(
    s: AsyncSession, root: Path, ctx: Context, pseudonyms: Pseudonyms, *, jsonl: bool, parquet: bool
) -> tuple[list[Output], dict[str, int]]:
    files = JsonlFile(root, "events.jsonl", "events") if jsonl else None
    table = (
        ParquetFile(root, "events.parquet", "events-parquet", [Column(n, t, i) for i, (n, t) in enumerate(EVENT_FIELDS)])
        if parquet
        else None
    )
    counts = {"reaction": 0, "ballot": 0}

    def emit(values: tuple[object, ...]) -> None:
        counts[str(values[0])] += 1
        if files is not None:
            files.write(json.dumps(dict(zip((n for n, _ in EVENT_FIELDS), values, strict=True)), ensure_ascii=False))
        if table is not None:
            table.add(*values)

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
            moment = aware(at)
            when = moment.isoformat() if moment else ""
            emit(
                (
                    "reaction",
                    seq,
                    when,
                    pseudonyms(member),
                    round_id,
                    g.scenario_id,
                    cand,
                    g.amendment_id,
                    stance,
                    action,
                    "",
                    reason,
                )
            )
    over = [r.id for r in ctx.rounds.values() if r.phase in (Phase.CLOSED.value, Phase.CANCELLED.value)]
    if over:
        B = BallotEventRow
        ballots = (
            select(col(B.id), col(B.at), col(B.member), col(B.round_id), col(B.amendment_id), col(B.choice))
            .where(col(B.community) == ctx.scope.community, col(B.round_id).in_(over))
            .where(
                col(B.amendment_id).in_(select(col(AmendmentRow.id)).where(col(AmendmentRow.community) == ctx.scope.community))
            )
            .order_by(col(B.id))
            .execution_options(yield_per=YIELD_ROWS)
        )
        async for brows in (await (await s.connection()).stream(ballots)).partitions():
            for seq, at, member, round_id, amendment, choice in brows:
                if excluded(member) is not None:
                    continue
                moment = aware(at)
                when = moment.isoformat() if moment else ""
                emit(("ballot", seq, when, pseudonyms(member), round_id, 0, 0, amendment, "", "", choice, ""))
    outputs = [w.close() for w in (files, table) if w is not None]
    return outputs, counts
