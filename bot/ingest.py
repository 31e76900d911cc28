"""Recording reactions durably and fast: a group-commit writer.

Each RecordReaction waits on a future that is resolved only after the batch holding its event has
committed, so an event is never confirmed before it is durable. Many events share one transaction
(one validation query, one INSERT … ON CONFLICT DO NOTHING), which is what makes thousands per
second possible on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from bot.commands import RecordReaction
from bot.errors import CommandError
from bot.model import Phase, check_text
from bot.services import Services
from storage.tables import CandidateRow, ReactionEventRow, RoundRow

log = logging.getLogger("policybot.ingest")

MAX_BATCH = 500
REACTION_PHASES = (Phase.REVIEW.value, Phase.AMEND.value, Phase.VOTE.value)


@dataclass(frozen=True, slots=True)
class Recorded:
    candidate_id: int
    duplicate: bool


@dataclass
class _Pending:
    cmd: RecordReaction
    future: asyncio.Future[Recorded]


class ReactionRecorder:
    def __init__(self, svc: Services, dialect: str) -> None:
        self._svc = svc
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._by_message: dict[str, int] = {}  # message key → candidate id (never changes once set)

    async def record(self, cmd: RecordReaction) -> Recorded:
        if (cmd.candidate_id is None) == (cmd.message_key is None):
            raise CommandError("A reaction names exactly one candidate.")
        if not cmd.event_key or len(cmd.event_key) > 200:
            raise CommandError("A reaction needs a platform event key of at most 200 characters.")
        if cmd.reason:
            check_text(cmd.reason, "reason")
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="reaction-writer")
        future: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(cmd, future))
        return await future

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._write(batch)
            except Exception as exc:  # the whole batch failed to commit: no event is confirmed
                log.exception("reaction batch of %d failed", len(batch))
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, res in zip(batch, results, strict=True):
                if p.future.done():
                    continue
                if isinstance(res, CommandError):
                    p.future.set_exception(res)
                else:
                    p.future.set_result(res)

    async def _write(self, batch: list[_Pending]) -> list[Recorded | CommandError]:
        now = self._svc.now()
        async with self._svc.uow() as uow:
            s = uow.session
            unknown_keys = {p.cmd.message_key for p in batch if p.cmd.message_key and p.cmd.message_key not in self._by_message}
            if unknown_keys:
                for cid, mkey in (
                    await s.exec(
                        select(CandidateRow.id, CandidateRow.message_key).where(col(CandidateRow.message_key).in_(unknown_keys))
                    )
                ).all():
                    if mkey is not None and cid is not None:
                        self._by_message[mkey] = cid
            ids = {self._target(p.cmd) for p in batch} - {None}
            info: dict[int, tuple[int, str, str]] = {}
            if ids:
                q = select(CandidateRow.id, RoundRow.id, RoundRow.community, RoundRow.phase).where(
                    col(CandidateRow.id).in_(ids), CandidateRow.round_id == RoundRow.id
                )
                for cid, rid, community, phase in (await s.exec(q)).all():
                    if cid is not None and rid is not None:
                        info[cid] = (rid, community, phase)
            results: list[Recorded | CommandError] = []
            rows: list[dict[str, Any]] = []
            seen: set[tuple[str, str]] = set()
            for p in batch:
                cid = self._target(p.cmd)
                found = info.get(cid) if cid is not None else None
                if cid is None or found is None or found[1] != p.cmd.actor.community:
                    results.append(CommandError("That message is not a candidate of a round in this community."))
                    continue
                rid, _, phase = found
                if phase not in REACTION_PHASES:
                    results.append(CommandError(f"Round #{rid} is {phase}; reactions are no longer recorded."))
                    continue
                key = (p.cmd.actor.community, p.cmd.event_key)
                results.append(Recorded(cid, duplicate=key in seen))
                if key in seen:
                    continue
                seen.add(key)
                rows.append(
                    {
                        "community": p.cmd.actor.community,
                        "round_id": rid,
                        "candidate_id": cid,
                        "member": p.cmd.actor.member,
                        "stance": p.cmd.stance.value,
                        "action": "remove" if p.cmd.removed else "add",
                        "reason": p.cmd.reason.strip(),
                        "event_key": p.cmd.event_key,
                        "at": now,
                    }
                )
            inserted: set[tuple[str, str]] = set()
            table: Any = ReactionEventRow.__table__  # type: ignore[attr-defined]
            for start in range(0, len(rows), 400):
                chunk = rows[start : start + 400]
                stmt = (
                    self._insert(table)
                    .values(chunk)
                    .on_conflict_do_nothing(index_elements=["community", "event_key"])
                    .returning(table.c.community, table.c.event_key)
                )
                inserted |= {(c, k) for c, k in (await s.exec(stmt)).all()}
            await uow.commit()
        final: list[Recorded | CommandError] = []
        for p, res in zip(batch, results, strict=True):
            if isinstance(res, Recorded) and not res.duplicate and (p.cmd.actor.community, p.cmd.event_key) not in inserted:
                res = Recorded(res.candidate_id, duplicate=True)  # delivered before, in an earlier batch
            final.append(res)
        return final

    def _target(self, cmd: RecordReaction) -> int | None:
        if cmd.candidate_id is not None:
            return cmd.candidate_id
        return self._by_message.get(cmd.message_key or "")
