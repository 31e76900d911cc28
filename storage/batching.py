"""Group commit: many tasks' writes in one transaction, each task answered only after it committed.

A transaction costs the same few round trips to the database whether it holds one row or five
hundred, and on SQLite only one may write at a time. So writes that arrive together (members'
reactions, the log lines of a burst of model answers) queue here and one writer task commits
whatever has queued since its last commit. Nobody is told "done" before their rows are durable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel

from storage.database import Database

log = logging.getLogger("policybot.batching")

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result]


class GroupCommit(ABC, Generic[Item, Result]):
    """Subclasses say how to write a batch (`write`); this class queues, batches and answers."""

    max_batch = 500
    name = "group-commit"

    def __init__(self) -> None:
        self._queue: asyncio.Queue[_Pending[Item, Result]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._unconfirmed: set[asyncio.Future[Result]] = set()  # submitted, not yet answered

    async def submit(self, item: Item) -> Result:
        """Wait until `item` is committed; its result, or the exception `write` gave for it."""
        if self._writer is None or self._writer.done():
            self._queue = asyncio.Queue()
            self._writer = asyncio.create_task(self._write_loop(self._queue), name=self.name)
        assert self._queue is not None
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._unconfirmed.add(future)
        future.add_done_callback(self._unconfirmed.discard)
        self._queue.put_nowait(_Pending(item, future))
        return await future

    async def flush(self) -> None:
        """Wait until everything submitted before this call is committed or has failed (what is
        submitted meanwhile is not waited for, so a steady stream cannot hold this up)."""
        if self._unconfirmed:
            await asyncio.wait(list(self._unconfirmed))

    @abstractmethod
    async def write(self, items: Sequence[Item]) -> Sequence[Result | Exception]:
        """Write `items` in one transaction; one result (or an exception) per item, in order."""

    async def close(self) -> None:
        """Stop the writer; whatever is still queued fails (it was never committed)."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        while self._queue is not None and not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(RuntimeError(f"{self.name} closed before this was written"))

    async def _write_loop(self, queue: asyncio.Queue[_Pending[Item, Result]]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await self._write_batch(batch)
            except asyncio.CancelledError:  # closed mid-batch: nothing in it is confirmed
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(RuntimeError(f"{self.name} closed before this was confirmed"))
                raise
            for p, res in zip(batch, results, strict=True):
                _answer(p, res)

    async def _write_batch(self, batch: list[_Pending[Item, Result]]) -> Sequence[Result | Exception]:
        """The batch in one transaction; if that fails as a whole, each item in its own, so one item
        the database refuses (a value it cannot hold) never costs the others theirs."""
        try:
            return await self.write([p.item for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                log.warning("%s: an item was refused: %s", self.name, exc)
                return [exc]
            log.warning("%s: a batch of %d failed (%s); writing its items one by one", self.name, len(batch), exc)
        results: list[Result | Exception] = []
        for p in batch:
            try:
                results.extend(await self.write([p.item]))
            except Exception as exc:  # this item alone cannot be written: only it fails
                log.warning("%s: an item was refused: %s", self.name, exc)
                results.append(exc)
        return results


def _answer(p: _Pending[Item, Result], res: Result | Exception) -> None:
    if p.future.done():  # its caller was cancelled meanwhile
        return
    if isinstance(res, Exception):
        p.future.set_exception(res)
    else:
        p.future.set_result(res)


@dataclass(frozen=True, slots=True)
class NewRow:
    """A row to append; with `unique`, a row that would repeat those columns is skipped."""

    table: type[SQLModel]
    values: dict[str, Any]
    unique: tuple[str, ...] = ()


class RowAppender(GroupCommit[tuple[NewRow, ...], None]):
    """Appends rows (log lines, cache entries) for many tasks in one transaction."""

    name = "row-appender"

    def __init__(self, database: Database) -> None:
        super().__init__()
        self._database = database
        self._statements: dict[tuple[str, type[SQLModel], tuple[str, ...]], Any] = {}

    async def append(self, *rows: NewRow) -> None:
        """Returns once the rows are committed (together, in one transaction)."""
        await self.submit(rows)

    async def write(self, items: Sequence[tuple[NewRow, ...]]) -> Sequence[None]:
        # one executemany per table, unique columns and set of columns given
        groups: dict[tuple[type[SQLModel], tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
        for rows in items:
            for row in rows:
                groups.setdefault((row.table, row.unique, tuple(sorted(row.values))), []).append(row.values)

        def append_all(conn: Connection) -> None:
            for (model, unique, _), values in groups.items():
                conn.execute(self._statement(conn.dialect.name, model, unique), values)

        await self._database.write(append_all)  # one transaction: one trip to SQLite's writer thread
        return [None] * len(items)

    def _statement(self, dialect: str, model: type[SQLModel], unique: tuple[str, ...]) -> Any:
        """The INSERT for a table, built once: SQLAlchemy then caches its compiled form."""
        key = (dialect, model, unique)
        found = self._statements.get(key)
        if found is None:
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            found = insert(model.__table__)  # type: ignore[attr-defined]
            if unique:
                found = found.on_conflict_do_nothing(index_elements=list(unique))
            self._statements[key] = found
        return found
