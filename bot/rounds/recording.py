"""Recording reactions durably and fast, by group commit (storage/batching.py).

Each RecordReaction is answered only after the batch holding its event has committed, so an event
is never confirmed before it is durable. Many events share one transaction (one validation query,
one INSERT … ON CONFLICT DO NOTHING), which is what makes thousands per second possible on SQLite."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from bot.domain.commands import RecordReaction
from bot.domain.model import Phase, check_text, utc
from bot.errors import CommandError
from bot.ports import Clock
from bot.rounds.queries import REACTION_PHASES
from storage.batching import GroupCommit
from storage.database import Database
from storage.tables import CandidateRow, ReactionEventRow, RoundRow

log = logging.getLogger("policybot.ingest")


@dataclass(frozen=True, slots=True)
class Recorded:
    candidate_id: int
    duplicate: bool


class ReactionRecorder(GroupCommit[RecordReaction, Recorded]):
    name = "reaction-writer"

    def __init__(self, database: Database, clock: Clock) -> None:
        super().__init__()
        self._database = database
        self._clock = clock
        insert = sqlite_insert if database.is_sqlite else pg_insert
        self._by_message: dict[str, int] = {}  # message key → candidate id (never changes once set)
        self._places: dict[int, tuple[int, str]] = {}  # candidate id → (round id, community): never change
        table: Any = ReactionEventRow.__table__  # type: ignore[attr-defined]
        self._statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["community", "event_key"])
            .returning(table.c.community, table.c.event_key)
        )
        # The batch's reads, built once and run on the connection (Core, not the ORM), and the whole
        # batch one Database.write: a batch's fixed cost is what every reaction in it waits for while
        # members react by the hundred a second. On SQLite the batch runs on the writer thread, which
        # must win the GIL back from the busy event loop after every step SQLite takes (every row a
        # query returns), so the phase query returns rounds, not candidates.
        self._places_of = select(CandidateRow.id, CandidateRow.round_id, RoundRow.community).where(
            col(CandidateRow.id).in_(bindparam("ids", expanding=True)), CandidateRow.round_id == RoundRow.id
        )
        self._phases = select(RoundRow.id, RoundRow.phase).where(col(RoundRow.id).in_(bindparam("rounds", expanding=True)))
        self._keys = select(CandidateRow.id, CandidateRow.message_key).where(
            col(CandidateRow.message_key).in_(bindparam("keys", expanding=True))
        )

    async def record(self, cmd: RecordReaction) -> Recorded:
        if (cmd.candidate_id is None) == (cmd.message_key is None):
            raise CommandError("A reaction names exactly one candidate.")
        if not cmd.event_key or len(cmd.event_key) > 200:
            raise CommandError("A reaction needs a platform event key of at most 200 characters.")
        if cmd.reason:
            check_text(cmd.reason, "reason")
        return await self.submit(cmd)

    async def write(self, batch: Sequence[RecordReaction]) -> list[Recorded | Exception]:
        now = utc(self._clock.now())
        return await self._database.write(lambda conn: self._write_in(conn, batch, now), urgent=True)  # members wait

    def _write_in(self, conn: Connection, batch: Sequence[RecordReaction], now: datetime) -> list[Recorded | Exception]:
        self._learn_message_keys(conn, batch)
        info = self._rounds_of(conn, batch)
        results: list[Recorded | Exception] = []
        rows: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for cmd in batch:
            target = self._check(cmd, info)
            if isinstance(target, CommandError):
                results.append(target)
                continue
            key = (cmd.actor.community, cmd.event_key)
            results.append(Recorded(target[0], duplicate=key in seen))
            if key not in seen:
                seen.add(key)
                rows.append(_row(cmd, target[0], target[1], now))
        inserted: set[tuple[str, str]] = set()
        if rows:
            # one statement, compiled once and cached; SQLAlchemy sends the rows as multi-row
            # INSERTs ("insertmanyvalues") and gathers what each inserted
            inserted = {(c, k) for c, k in conn.execute(self._statement, rows).all()}
        final: list[Recorded | Exception] = []
        for cmd, res in zip(batch, results, strict=True):
            if isinstance(res, Recorded) and not res.duplicate and (cmd.actor.community, cmd.event_key) not in inserted:
                res = Recorded(res.candidate_id, duplicate=True)  # delivered before, in an earlier batch
            final.append(res)
        return final

    def _learn_message_keys(self, conn: Connection, batch: Sequence[RecordReaction]) -> None:
        unknown = {cmd.message_key for cmd in batch if cmd.message_key and cmd.message_key not in self._by_message}
        if not unknown:
            return
        for cid, mkey in conn.execute(self._keys, {"keys": sorted(unknown)}).all():
            if mkey is not None and cid is not None:
                self._by_message[mkey] = cid

    def _rounds_of(self, conn: Connection, batch: Sequence[RecordReaction]) -> dict[int, tuple[int, str, str]]:
        """candidate id → (round id, community, phase) for the batch's targets."""
        ids = {cid for cmd in batch if (cid := self._target(cmd)) is not None}
        unknown = ids - self._places.keys()
        if unknown:
            for cid, rid, community in conn.execute(self._places_of, {"ids": sorted(unknown)}).all():
                if cid is not None and rid is not None:
                    self._places[cid] = (rid, community)
        rounds = {self._places[cid][0] for cid in ids if cid in self._places}
        phases: dict[int, str] = {}
        if rounds:
            phases = {rid: phase for rid, phase in conn.execute(self._phases, {"rounds": sorted(rounds)}).all()}
        info: dict[int, tuple[int, str, str]] = {}
        for cid in ids & self._places.keys():
            rid, community = self._places[cid]
            if rid in phases:
                info[cid] = (rid, community, phases[rid])
        return info

    def _check(self, cmd: RecordReaction, info: dict[int, tuple[int, str, str]]) -> tuple[int, int] | CommandError:
        """(candidate id, round id) of a reaction that can be recorded, or why not."""
        cid = self._target(cmd)
        found = info.get(cid) if cid is not None else None
        if cid is None or found is None or found[1] != cmd.actor.community:
            return CommandError("That message is not a candidate of a round in this community.")
        rid, _, phase = found
        if Phase(phase) not in REACTION_PHASES:
            return CommandError(f"Round #{rid} is {phase}; reactions are no longer recorded.")
        return cid, rid

    def _target(self, cmd: RecordReaction) -> int | None:
        if cmd.candidate_id is not None:
            return cmd.candidate_id
        return self._by_message.get(cmd.message_key or "")


def _row(cmd: RecordReaction, candidate_id: int, round_id: int, now: datetime) -> dict[str, Any]:
    return {
        "community": cmd.actor.community,
        "round_id": round_id,
        "candidate_id": candidate_id,
        "member": cmd.actor.member,
        "stance": cmd.stance.value,
        "action": "remove" if cmd.removed else "add",
        "reason": cmd.reason.strip(),
        "event_key": cmd.event_key,
        "at": now,
    }
