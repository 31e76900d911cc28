"""Async engines for SQLite (default) and PostgreSQL, and the session factory."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import re
import sqlite3
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger("policybot.storage")

SQLITE_BUSY_TIMEOUT_MS = 10_000
# SQLite copies the write-ahead log back into the database file (a checkpoint) inside whichever
# commit finds the log past this many pages; that commit then takes several times longer. A
# background checkpoint (Database) keeps the log short, so this is only a backstop.
SQLITE_AUTOCHECKPOINT_PAGES = 10_000
CHECKPOINT_EVERY = 0.25  # seconds between background checkpoints
# A passive checkpoint copies the log back, but SQLite starts writing the log from its beginning
# again only when a writer begins with every frame copied back, which never happens while reactions
# commit every few milliseconds: the log grows to the backstop. Past this many pages, the background
# checkpoint finishes the copy once inside the write gate, so the next writer restarts the log.
SQLITE_RESTART_LOG_PAGES = 1_000
PASSIVE_CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"


_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
T = TypeVar("T")


class Turns:
    """A lock whose waiters are let in urgent ones first, then in the order they came; the lock is
    handed straight to the next waiter on release, so nobody can slip in between."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: tuple[collections.deque[asyncio.Future[None]], ...] = (collections.deque(), collections.deque())

    def locked(self) -> bool:
        return self._held

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._held and not any(self._waiting):
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting[0 if urgent else 1]
        queue.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():  # handed the lock as it gave up: pass it on
                self.release()
            elif turn in queue:
                queue.remove(turn)
            raise

    def release(self) -> None:
        for queue in self._waiting:
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)  # the lock stays held, now by that waiter
                    return
        self._held = False


class WriteGate:
    """One writing transaction at a time within this process, queued in order on the event loop,
    members' reactions first.

    SQLite lets one connection write at a time; a second writer is put to sleep by SQLite's busy
    handler in growing steps (1, 2, 5, 10, 15 ms, …) and wakes on its schedule, not when the lock
    is free. A few of those in a row cost a member's reaction tens of milliseconds. Writers of this
    process instead wait here, before their first INSERT/UPDATE/DELETE, and the next one starts
    the moment the previous transaction's connection is returned. An urgent writer (a batch of
    reactions, which members wait for) goes before the others waiting (log lines, deliveries,
    checkpoints), never before the one writing. Other processes on the same file still meet
    SQLite's own lock and busy timeout."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Turns] = weakref.WeakKeyDictionary()
        # driver connection → the gate it holds. Kept here, not in the connection's .info, which
        # SQLAlchemy clears when a connection is invalidated: the gate must be released all the same.
        self._held: dict[object, Turns] = {}

    def lock(self) -> Turns:
        loop = asyncio.get_running_loop()
        found = self._locks.get(loop)
        if found is None:
            found = self._locks[loop] = Turns()
        return found

    async def acquire(self, *, urgent: bool = False) -> Turns:
        """Wait for the gate and hold it; the caller releases the lock it returns."""
        lock = self.lock()
        try:
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):  # no extra task, unlike wait_for
                await lock.acquire(urgent=urgent)
        except TimeoutError:
            raise sqlite3.OperationalError(
                f"database is locked: another writer of this process held it for {SQLITE_BUSY_TIMEOUT_MS} ms"
            ) from None
        return lock

    def install(self, engine: AsyncEngine) -> None:
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "before_cursor_execute")
        def _before_write(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            driver = conn.connection.dbapi_connection
            if driver in self._held or not _WRITE.match(statement):
                return

            async def acquire(_driver: object) -> None:
                await self.acquire()

            # run_async: SQLAlchemy's documented way to await from a sync event of an async engine
            driver.run_async(acquire)
            self._held[driver] = self.lock()

        def _release(driver: Any, *_: Any) -> None:
            lock = self._held.pop(driver, None)
            if lock is not None and lock.locked():
                lock.release()

        # after commit or rollback the connection goes back to the pool: the transaction is over
        for name in ("checkin", "invalidate", "soft_invalidate", "close"):
            event.listen(sync_engine, name, _release)


def async_url(url: str) -> str:
    """Accept plain URLs (sqlite:///x.db, postgresql://…) and pick the async driver."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers go on while the ingest writer commits; NORMAL sync is durable in WAL
    # against a process crash (what we promise), and much faster than FULL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def create_engine(url: str, gate: WriteGate | None = None, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    if is_sqlite(url):
        # No rollback when a connection goes back to the pool: sessions and connections end their
        # own transactions (commit, or close(), which rolls back), and on SQLite each extra call
        # is a round trip to the driver's thread that every reaction batch would pay for.
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, pool_reset_on_return=None, **kwargs
        )
        (gate or WriteGate()).install(engine)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """Owns the engine; hands out sessions to units of work. On SQLite it also checkpoints the
    write-ahead log in the background (a passive checkpoint, on its own connection, which neither
    waits for nor blocks a writer), so no member's commit pays for it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._is_sqlite = is_sqlite(url)  # asked at every session: parse the URL once
        self._gate = WriteGate() if self._is_sqlite else None
        self.engine = create_engine(url, self._gate)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._checkpointer: asyncio.Task[None] | None = None
        self._writer: tuple[Engine, concurrent.futures.ThreadPoolExecutor] | None = None  # SQLite, on first use
        self._autocommit: AsyncEngine | None = None  # PostgreSQL, on first use

    @property
    def is_sqlite(self) -> bool:
        return self._is_sqlite

    def session(self) -> AsyncSession:
        """A new session; on SQLite, the first one starts the background checkpoint."""
        if self.is_sqlite:
            loop = asyncio.get_running_loop()
            running = self._checkpointer
            if running is None or running.done() or running.get_loop() is not loop:  # (a new loop: tests)
                self._checkpointer = loop.create_task(self._checkpoint_loop(), name="sqlite-checkpoint")
        return self.sessions()

    async def write(self, work: Callable[[Connection], T], *, urgent: bool = False, autocommit: bool = False) -> T:
        """One write transaction: `work` runs its statements on a plain connection and the
        transaction commits when it returns (rolls back if it raises). `urgent`: members wait for
        it (reactions); on SQLite it goes before the other writers waiting for the gate.
        `autocommit`: for work whose only write is one statement, which on PostgreSQL is then its own
        transaction, with no BEGIN or COMMIT to send (from a pool of connections in autocommit, which
        need no reset when given back). On SQLite the work stays in a transaction on the writer
        thread's one connection: a second connection, in autocommit, finds its page cache emptied
        by every write of the first, and measured slower.

        For the writes that come by the hundred a second (reactions, log lines, cache entries). On
        SQLite the whole transaction is one trip to a writer thread, taken after this process's
        write gate: through the async driver every statement is several trips between the event
        loop and the driver's thread, each waiting its turn on a busy loop while the gate is held
        and every other writer waits. On PostgreSQL it runs on the async connection."""
        if self._gate is None:
            if autocommit:
                async with self._autocommit_engine().connect() as conn:
                    return await conn.run_sync(work)
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        return await self._on_writer(lambda engine: _in_transaction(engine, work), urgent=urgent)

    def _autocommit_engine(self) -> AsyncEngine:
        if self._autocommit is None:
            # configured as the main pool is (pinged when taken: a connection the server dropped is
            # replaced before a write meets it), but in autocommit, with nothing to reset
            self._autocommit = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
        return self._autocommit

    async def _on_writer(self, job: Callable[[Engine], T], *, urgent: bool = False) -> T:
        """`job` on SQLite's writer thread, inside this process's write gate."""
        assert self._gate is not None
        engine, thread = self._sqlite_writer()
        loop = asyncio.get_running_loop()
        lock = await self._gate.acquire(urgent=urgent)
        try:
            done = thread.submit(job, engine)
        except BaseException:
            lock.release()
            raise
        # the gate is let go when the thread has finished, even if the caller stops waiting first
        done.add_done_callback(lambda _f: loop.call_soon_threadsafe(lock.release))
        return await asyncio.wrap_future(done)

    def _sqlite_writer(self) -> tuple[Engine, concurrent.futures.ThreadPoolExecutor]:
        if self._writer is None:
            url = make_url(self.url).set(drivername="sqlite+pysqlite")
            engine = create_sync_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            self._writer = engine, concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        return self._writer

    def sync_engines(self) -> list[Engine]:
        """The engines whose commits make this database's writes durable (tests count commits)."""
        return [self.engine.sync_engine, *([self._sqlite_writer()[0]] if self._is_sqlite else [])]

    async def checkpoint(self) -> int:
        """A passive checkpoint (it neither waits for nor blocks a writer); when the log has grown
        past SQLITE_RESTART_LOG_PAGES, a second one inside the write gate copies back the few frames
        written meanwhile, so the next writer starts the log again from its beginning. Returns the
        log's length in pages as SQLite reported it first."""
        async with self.engine.connect() as conn:
            row: Any = (await conn.exec_driver_sql(PASSIVE_CHECKPOINT)).one()
        pages = int(row[1])  # (busy, pages in the log, pages copied back)
        if pages >= SQLITE_RESTART_LOG_PAGES and self._gate is not None:
            await self._on_writer(_checkpoint)  # the writer thread: one trip, the shortest hold of the gate
        return pages

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY)
            try:
                await self.checkpoint()
            except Exception:  # a busy or failing checkpoint is retried; the backstop still holds
                log.warning("background WAL checkpoint failed", exc_info=True)

    async def dispose(self) -> None:
        task, self._checkpointer = self._checkpointer, None
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        writer, self._writer = self._writer, None
        if writer is not None:
            engine, thread = writer
            await asyncio.get_running_loop().run_in_executor(None, thread.shutdown)
            engine.dispose()
        autocommit, self._autocommit = self._autocommit, None
        if autocommit is not None:
            await autocommit.dispose()
        await self.engine.dispose()


def _checkpoint(engine: Engine) -> None:
    with engine.connect() as conn:  # no transaction: pysqlite sends no BEGIN for a PRAGMA
        conn.exec_driver_sql(PASSIVE_CHECKPOINT)


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return work(conn)
