"""Recording reactions durably and fast, by group commit (storage/batching.py).

Each RecordReaction is answered only after the batch holding its event has committed, so an event
is never confirmed before it is durable. Many events share one statement, an INSERT … SELECT that
stores the rows whose round is open for reactions and whose event key is new (ON CONFLICT DO
NOTHING), which is what makes thousands per second possible on SQLite."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
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
        self._by_message: dict[str, int] = {}  # message key → candidate id (never changes once set)
        self._places: dict[int, tuple[int, str]] = {}  # candidate id → (round id, community): never change
        self._insert = _sqlite_batch_insert() if database.is_sqlite else _postgresql_batch_insert()
        # The reads, built once and run on the connection (Core, not the ORM). They are needed once
        # per candidate (its round and community never change) or when a row was not stored.
        self._places_of = select(CandidateRow.id, CandidateRow.round_id, RoundRow.community).where(
            col(CandidateRow.id).in_(bindparam("ids", expanding=True)), CandidateRow.round_id == RoundRow.id
        )
        self._phases = select(RoundRow.id, RoundRow.phase).where(col(RoundRow.id).in_(bindparam("rounds", expanding=True)))
        self._keys = select(CandidateRow.id, CandidateRow.message_key).where(
            col(CandidateRow.message_key).in_(bindparam("keys", expanding=True))
        )
        self._stored = select(ReactionEventRow.event_key).where(
            ReactionEventRow.community == bindparam("community"),
            col(ReactionEventRow.event_key).in_(bindparam("event_keys", expanding=True)),
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
        # The batch's one write is a single statement that checks the rounds' phases itself, so on
        # PostgreSQL it is its own transaction: one round trip, where a transaction with a query
        # before the insert took five, each a turn of the busy event loop. Members wait for it.
        return await self._database.write(lambda conn: self._write_in(conn, batch, now), urgent=True, autocommit=True)

    def _write_in(self, conn: Connection, batch: Sequence[RecordReaction], now: datetime) -> list[Recorded | Exception]:
        self._learn_message_keys(conn, batch)
        self._learn_places(conn, batch)
        results: list[Recorded | CommandError] = []
        rows: list[_Row] = []
        seen: set[tuple[str, str]] = set()
        for cmd in batch:
            target = self._check(cmd)
            if isinstance(target, CommandError):
                results.append(target)
                continue
            key = (cmd.actor.community, cmd.event_key)
            results.append(Recorded(target[0], duplicate=key in seen))
            if key not in seen:
                seen.add(key)
                rows.append(_row(cmd, target[0], target[1]))
        inserted: set[tuple[str, str]] = set()
        if rows:
            inserted = self._insert(conn, rows, now)
        why = self._why_not_stored(conn, [r for r in rows if (r[0], r[7]) not in inserted]) if len(inserted) < len(rows) else {}
        final: list[Recorded | Exception] = []
        for cmd, res in zip(batch, results, strict=True):
            key = (cmd.actor.community, cmd.event_key)
            if isinstance(res, Recorded) and not res.duplicate and key not in inserted:
                # stored before, in an earlier batch (a platform's redelivery), or refused by its round
                res = why.get(key) or Recorded(res.candidate_id, duplicate=True)
            final.append(res)
        return final

    def _why_not_stored(self, conn: Connection, rows: list[_Row]) -> dict[tuple[str, str], CommandError]:
        """For rows the insert skipped: those already stored are duplicates (no entry); the others
        were refused because their round is no longer open for reactions."""
        by_community: dict[str, list[str]] = {}
        for r in rows:
            by_community.setdefault(r[0], []).append(r[7])
        stored = {
            (community, k)
            for community, keys in by_community.items()
            for k in conn.execute(self._stored, {"community": community, "event_keys": keys}).scalars()
        }
        refused = [r for r in rows if (r[0], r[7]) not in stored]
        if not refused:
            return {}
        rounds = sorted({r[1] for r in refused})
        phases: dict[int, str] = {rid: phase for rid, phase in conn.execute(self._phases, {"rounds": rounds})}
        return {(r[0], r[7]): _closed(r[1], phases.get(r[1])) for r in refused}

    def _learn_message_keys(self, conn: Connection, batch: Sequence[RecordReaction]) -> None:
        unknown = {cmd.message_key for cmd in batch if cmd.message_key and cmd.message_key not in self._by_message}
        if not unknown:
            return
        for cid, mkey in conn.execute(self._keys, {"keys": sorted(unknown)}).all():
            if mkey is not None and cid is not None:
                self._by_message[mkey] = cid

    def _learn_places(self, conn: Connection, batch: Sequence[RecordReaction]) -> None:
        unknown = {cid for cmd in batch if (cid := self._target(cmd)) is not None} - self._places.keys()
        if unknown:
            for cid, rid, community in conn.execute(self._places_of, {"ids": sorted(unknown)}).all():
                if cid is not None and rid is not None:
                    self._places[cid] = (rid, community)

    def _check(self, cmd: RecordReaction) -> tuple[int, int] | CommandError:
        """(candidate id, round id) of a reaction to a candidate of this community, or why not; the
        round's phase is checked by the insert itself."""
        cid = self._target(cmd)
        found = self._places.get(cid) if cid is not None else None
        if cid is None or found is None or found[1] != cmd.actor.community:
            return CommandError("That message is not a candidate of a round in this community.")
        return cid, found[0]

    def _target(self, cmd: RecordReaction) -> int | None:
        if cmd.candidate_id is not None:
            return cmd.candidate_id
        return self._by_message.get(cmd.message_key or "")


# (community, round id, candidate id, member, stance, action, reason, event key): the columns the
# batch insert takes from each reaction, in its order; `at` is the batch's, given once.
_Row = tuple[str, int, int, str, str, str, str, str]
_COLUMNS = ("community", "round_id", "candidate_id", "member", "stance", "action", "reason", "event_key")
_OPEN = tuple(p.value for p in REACTION_PHASES)


def _row(cmd: RecordReaction, candidate_id: int, round_id: int) -> _Row:
    action = "remove" if cmd.removed else "add"
    return (
        cmd.actor.community,
        round_id,
        candidate_id,
        cmd.actor.member,
        cmd.stance.value,
        action,
        cmd.reason.strip(),
        cmd.event_key,
    )


def _closed(round_id: int, phase: str | None) -> CommandError:
    if phase is None:
        return CommandError("That message is not a candidate of a round in this community.")
    if Phase(phase) in REACTION_PHASES:  # stored by nobody and refused by nothing: say so, not "recorded"
        return CommandError(f"Round #{round_id}: that reaction could not be recorded; please react again.")
    return CommandError(f"Round #{round_id} is {phase}; reactions are no longer recorded.")


def _sqlite_batch_insert() -> Callable[[Connection, list[_Row], datetime], set[tuple[str, str]]]:
    """The rows of rounds open for reactions, in one INSERT … SELECT (skipping event keys already
    stored); the insert returns (community, event key) of each row stored.

    The rows go in as one JSON array, read back by SQLite's json_each: one statement whatever the
    batch's size, compiled and prepared once. (A VALUES list of n rows is a statement of its own for
    every n, which SQLAlchemy compiles anew on the writer thread, often in the burst of reactions
    that follows a round's opening.)"""
    table: Any = ReactionEventRow.__table__  # type: ignore[attr-defined]
    fields = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_COLUMNS)))
    phases = ", ".join(f"'{phase}'" for phase in _OPEN)  # our own enum's values
    statement = (
        text(
            f"INSERT INTO reaction_event ({', '.join(_COLUMNS)}, at) SELECT {fields}, :at FROM json_each(:rows) "  # noqa: S608
            f"WHERE json_extract(value, '$[1]') IN (SELECT id FROM round WHERE phase IN ({phases})) "
            "ON CONFLICT (community, event_key) DO NOTHING RETURNING community, event_key"
        )
        .bindparams(bindparam("at", type_=table.c.at.type))
        .columns(table.c.community, table.c.event_key)
    )

    def insert(conn: Connection, rows: list[_Row], now: datetime) -> set[tuple[str, str]]:
        return {(c, k) for c, k in conn.execute(statement, {"rows": json.dumps(rows), "at": now})}

    return insert


def _postgresql_batch_insert() -> Callable[[Connection, list[_Row], datetime], set[tuple[str, str]]]:
    """The same insert on PostgreSQL, from arrays (unnest): one statement whatever the batch's size,
    prepared once by the driver."""
    table: Any = ReactionEventRow.__table__  # type: ignore[attr-defined]
    arrays: list[Any] = [func.unnest(bindparam(name, type_=ARRAY(table.c[name].type))).label(name) for name in _COLUMNS]
    batch = select(*arrays).cte("batch")
    values: list[Any] = [*(batch.c[name] for name in _COLUMNS), bindparam("at", type_=table.c.at.type)]
    statement = (
        pg_insert(table)
        .from_select(
            [*_COLUMNS, "at"],
            select(*values).where(batch.c.round_id.in_(select(RoundRow.id).where(col(RoundRow.phase).in_(_OPEN)))),
        )
        .on_conflict_do_nothing(index_elements=["community", "event_key"])
        .returning(table.c.community, table.c.event_key)
    )

    def insert(conn: Connection, rows: list[_Row], now: datetime) -> set[tuple[str, str]]:
        columns = zip(*rows, strict=True)
        params = {name: list(each) for name, each in zip(_COLUMNS, columns, strict=True)} | {"at": now}
        return {(c, k) for c, k in conn.execute(statement, params)}

    return insert
