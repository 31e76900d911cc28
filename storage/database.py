"""Async engines for SQLite (default) and PostgreSQL, and the session factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import weakref
from typing import Any

from sqlalchemy import event
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


_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class WriteGate:
    """One writing transaction at a time within this process, queued in order on the event loop.

    SQLite lets one connection write at a time; a second writer is put to sleep by SQLite's busy
    handler in growing steps (1, 2, 5, 10, 15 ms, …) and wakes on its schedule, not when the lock
    is free. A few of those in a row cost a member's reaction tens of milliseconds. Writers of this
    process instead wait here, before their first INSERT/UPDATE/DELETE, and the next one starts
    the moment the previous transaction's connection is returned. Other processes on the same file
    still meet SQLite's own lock and busy timeout."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        # driver connection → the gate it holds. Kept here, not in the connection's .info, which
        # SQLAlchemy clears when a connection is invalidated: the gate must be released all the same.
        self._held: dict[object, asyncio.Lock] = {}

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        found = self._locks.get(loop)
        if found is None:
            found = self._locks[loop] = asyncio.Lock()
        return found

    def install(self, engine: AsyncEngine) -> None:
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "before_cursor_execute")
        def _before_write(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            driver = conn.connection.dbapi_connection
            if driver in self._held or not _WRITE.match(statement):
                return
            lock = self.lock()

            async def acquire(_driver: object) -> None:
                try:
                    async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):  # no extra task, unlike wait_for
                        await lock.acquire()
                except TimeoutError:
                    raise sqlite3.OperationalError(
                        f"database is locked: another writer of this process held it for {SQLITE_BUSY_TIMEOUT_MS} ms"
                    ) from None

            # run_async: SQLAlchemy's documented way to await from a sync event of an async engine
            driver.run_async(acquire)
            self._held[driver] = lock

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


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    if is_sqlite(url):
        # No rollback when a connection goes back to the pool: sessions and connections end their
        # own transactions (commit, or close(), which rolls back), and on SQLite each extra call
        # is a round trip to the driver's thread that every reaction batch would pay for.
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, pool_reset_on_return=None, **kwargs
        )
        WriteGate().install(engine)

        @event.listens_for(engine.sync_engine, "connect")
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

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """Owns the engine; hands out sessions to units of work. On SQLite it also checkpoints the
    write-ahead log in the background (a passive checkpoint, on its own connection, which neither
    waits for nor blocks a writer), so no member's commit pays for it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._is_sqlite = is_sqlite(url)  # asked at every session: parse the URL once
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._checkpointer: asyncio.Task[None] | None = None

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

    async def checkpoint(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

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
        await self.engine.dispose()
