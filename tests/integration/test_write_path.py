"""The write path under concurrency: SQLite's in-process write gate and background checkpoint
(storage/database.py), and group commit of appended rows (storage/batching.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, func, insert
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

import storage.database
from storage.batching import GroupCommit, NewRow, RowAppender
from storage.database import Database, Turns
from storage.migrate import upgrade_async
from storage.tables import LLMCacheRow, LLMCallRow, PolicyRow
from storage.uow import UnitOfWorkFactory

AT = datetime(2026, 11, 23, tzinfo=UTC)
Work = Callable[[Connection], None]


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    await upgrade_async(url)
    return Database(url)


def statements(db: Database, log: list[str], who: dict[int, str]) -> None:
    """Record, in order, each write statement as it is sent to SQLite (after the gate let it by)."""

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _seen(conn: object, _c: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            log.append(f"{who.get(id(conn), '?')} insert")


async def test_a_second_writer_waits_for_the_first_to_commit(sqlite_db: Database) -> None:
    log: list[str] = []
    who: dict[int, str] = {}
    statements(sqlite_db, log, who)
    a_wrote = asyncio.Event()
    a_may_commit = asyncio.Event()

    async def writer(name: str) -> None:
        async with UnitOfWorkFactory(sqlite_db)() as uow:
            who[id((await uow.session.connection()).sync_connection)] = name
            uow.session.add(PolicyRow(community="c", name=name, created_by="m", created_at=AT))
            await uow.session.flush()
            if name == "a":
                a_wrote.set()
                await a_may_commit.wait()
            await uow.commit()
            log.append(f"{name} committed")

    a = asyncio.create_task(writer("a"))
    await a_wrote.wait()
    b = asyncio.create_task(writer("b"))
    for _ in range(20):  # give b every chance to reach SQLite
        await asyncio.sleep(0.01)
    assert log == ["a insert"] and not b.done()  # b waits at the gate, not in SQLite's busy handler
    a_may_commit.set()
    await asyncio.wait_for(asyncio.gather(a, b), 10)
    assert log == ["a insert", "a committed", "b insert", "b committed"]
    await sqlite_db.dispose()


async def test_a_rolled_back_writer_lets_the_next_one_in(sqlite_db: Database) -> None:
    uow = UnitOfWorkFactory(sqlite_db)
    with pytest.raises(RuntimeError, match="half-way"):
        async with uow() as u:
            u.session.add(PolicyRow(community="c", name="lost", created_by="m", created_at=AT))
            await u.session.flush()
            raise RuntimeError("half-way")
    async with uow() as u:  # would wait forever if the failed unit of work still held the gate
        u.session.add(PolicyRow(community="c", name="kept", created_by="m", created_at=AT))
        await asyncio.wait_for(u.commit(), 5)
    async with uow() as u:
        names = (await u.session.exec(select(PolicyRow.name))).all()
    assert names == ["kept"]
    await sqlite_db.dispose()


async def test_an_invalidated_connection_releases_the_gate(sqlite_db: Database) -> None:
    uow = UnitOfWorkFactory(sqlite_db)
    async with uow() as u:
        u.session.add(PolicyRow(community="c", name="lost", created_by="m", created_at=AT))
        await u.session.flush()
        await (await u.session.connection()).invalidate()  # as after a broken connection
    async with uow() as u:
        u.session.add(PolicyRow(community="c", name="kept", created_by="m", created_at=AT))
        await asyncio.wait_for(u.commit(), 5)
    await sqlite_db.dispose()


def insert_policy(name: str, started: threading.Event | None = None, go: threading.Event | None = None) -> Work:
    """A Database.write that inserts a policy; with events, it stops half-way until told to go on."""

    def work(conn: Connection) -> None:
        conn.execute(insert(PolicyRow.__table__), {"community": "c", "name": name, "created_by": "m", "created_at": AT})  # type: ignore[attr-defined]
        if started is not None and go is not None:
            started.set()
            go.wait(10)

    return work


async def policy_names(db: Database) -> list[str]:
    async with UnitOfWorkFactory(db)() as u:
        return list((await u.session.exec(select(PolicyRow.name).order_by(col(PolicyRow.id)))).all())


async def session_writer(db: Database, name: str) -> None:
    async with UnitOfWorkFactory(db)() as uow:
        uow.session.add(PolicyRow(community="c", name=name, created_by="m", created_at=AT))
        await uow.commit()


async def test_a_write_in_the_writer_thread_and_a_session_share_one_gate(sqlite_db: Database) -> None:
    log: list[str] = []
    statements(sqlite_db, log, {})
    started, go = threading.Event(), threading.Event()
    first = asyncio.create_task(sqlite_db.write(insert_policy("thread", started, go)))
    await asyncio.to_thread(started.wait, 10)
    second = asyncio.create_task(session_writer(sqlite_db, "session"))
    for _ in range(20):  # every chance to get past the gate if it did not wait
        await asyncio.sleep(0.01)
    assert log == [] and not second.done()  # at the gate, not in SQLite's busy handler
    go.set()
    await asyncio.wait_for(asyncio.gather(first, second), 20)
    assert log == ["? insert"]
    assert await policy_names(sqlite_db) == ["thread", "session"]
    await sqlite_db.dispose()


async def test_a_write_that_raises_changes_nothing_and_lets_the_next_one_in(sqlite_db: Database) -> None:
    def half_way(conn: Connection) -> None:
        insert_policy("lost")(conn)
        raise RuntimeError("half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        await sqlite_db.write(half_way)
    await asyncio.wait_for(sqlite_db.write(insert_policy("kept")), 10)
    assert await policy_names(sqlite_db) == ["kept"]
    await sqlite_db.dispose()


async def test_a_caller_that_stops_waiting_does_not_open_the_gate_early(sqlite_db: Database) -> None:
    log: list[str] = []
    statements(sqlite_db, log, {})
    started, go = threading.Event(), threading.Event()
    first = asyncio.create_task(sqlite_db.write(insert_policy("slow", started, go)))
    await asyncio.to_thread(started.wait, 10)
    first.cancel()  # the thread goes on writing: the gate stays shut until it has committed
    second = asyncio.create_task(session_writer(sqlite_db, "next"))
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert log == [] and not second.done()
    go.set()
    await asyncio.wait_for(second, 20)
    assert await policy_names(sqlite_db) == ["slow", "next"]
    await sqlite_db.dispose()


async def test_a_writer_nested_in_another_gets_a_clear_error(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage.database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    uow = UnitOfWorkFactory(sqlite_db)
    async with uow() as outer:
        outer.session.add(PolicyRow(community="c", name="outer", created_by="m", created_at=AT))
        await outer.session.flush()
        with pytest.raises(OperationalError, match="another writer of this process"):
            async with uow() as inner:
                inner.session.add(PolicyRow(community="c", name="inner", created_by="m", created_at=AT))
                await inner.commit()
        await outer.commit()
    await sqlite_db.dispose()


async def test_the_gate_lets_urgent_writers_in_first_then_the_others_in_order() -> None:
    turns = Turns()
    order: list[str] = []
    await turns.acquire()  # someone is writing

    async def writer(name: str, urgent: bool) -> None:
        await turns.acquire(urgent=urgent)
        order.append(name)
        await asyncio.sleep(0)
        turns.release()

    tasks = [asyncio.create_task(writer(n, n.startswith("reaction"))) for n in ("log", "delivery", "reaction-1", "reaction-2")]
    await asyncio.sleep(0)
    turns.release()
    await asyncio.gather(*tasks)
    assert order == ["reaction-1", "reaction-2", "log", "delivery"]
    assert not turns.locked()


async def test_a_waiter_that_gives_up_never_keeps_the_gate() -> None:
    turns = Turns()
    await turns.acquire()
    given_up = asyncio.create_task(turns.acquire())  # cancelled while it waits
    handed = asyncio.create_task(turns.acquire(urgent=True))  # cancelled just as the gate is handed to it
    last = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0)
    given_up.cancel()
    await asyncio.sleep(0)
    turns.release()  # hands the gate to `handed`, which has not run yet
    handed.cancel()
    await asyncio.wait_for(last, 5)  # `handed` passed it on; `given_up` was skipped
    assert given_up.cancelled() and handed.cancelled()
    turns.release()
    assert not turns.locked()


async def test_the_background_checkpoint_moves_the_log_into_the_database(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(sqlite_db.engine.url.database or "")
    done: list[None] = []
    real = Database.checkpoint

    async def counted(self: Database) -> int:
        pages = await real(self)
        done.append(None)
        return pages

    monkeypatch.setattr(Database, "checkpoint", counted)
    monkeypatch.setattr(storage.database, "CHECKPOINT_EVERY", 3600.0)  # only when this test says
    uow = UnitOfWorkFactory(sqlite_db)
    before = path.stat().st_size  # noqa: ASYNC240 (a local file's size, instantly)
    for i in range(50):
        async with uow() as u:
            u.session.add(LLMCacheRow(prompt_hash=f"h{i}", model="m", text="x" * 2000, created_at=AT))
            await u.commit()
    assert path.stat().st_size == before  # noqa: ASYNC240 every commit so far is only in the write-ahead log
    await sqlite_db.checkpoint()
    assert path.stat().st_size > before + 50 * 2000  # noqa: ASYNC240
    monkeypatch.setattr(storage.database, "CHECKPOINT_EVERY", 0.01)
    await sqlite_db.dispose()  # stops the loop started with the first session
    async with uow() as u:  # a new session starts it again
        assert (await u.session.exec(select(func.count()).select_from(LLMCacheRow))).one() == 50
    for _ in range(500):
        if len(done) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(done) >= 3
    await sqlite_db.dispose()
    stopped = len(done)
    await asyncio.sleep(0.05)
    assert len(done) == stopped


async def test_the_log_starts_again_though_a_write_lands_during_each_checkpoint(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under steady reactions a write commits while the passive checkpoint runs, so it never
    catches up with the log and SQLite never starts the log again: it grows to the backstop. Here a
    write lands right after every passive checkpoint; the checkpoint inside the write gate that
    follows copies it back too, so the next writer restarts the log and it stays short."""
    monkeypatch.setattr(storage.database, "SQLITE_RESTART_LOG_PAGES", 1)
    monkeypatch.setattr(storage.database, "CHECKPOINT_EVERY", 3600.0)  # only when this test says
    table = LLMCacheRow.__table__  # type: ignore[attr-defined]
    written = [0]

    def one(conn: Connection) -> None:
        conn.execute(insert(table), {"prompt_hash": f"h{written[0]}", "model": "m", "text": "x" * 3000, "created_at": AT})
        written[0] += 1

    # another writer, outside the gate, whose transaction began before the checkpoint ended
    other = sqlite3.connect(sqlite_db.engine.url.database or "", isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE scratch (t TEXT)")

    @event.listens_for(sqlite_db.engine.sync_engine, "before_cursor_execute")
    def _begin_meanwhile(_conn: object, _c: object, statement: str, *_: object) -> None:
        if "wal_checkpoint" in statement:
            other.execute("BEGIN")
            other.execute("SELECT count(*) FROM scratch").fetchall()

    @event.listens_for(sqlite_db.engine.sync_engine, "after_cursor_execute")
    def _commit_meanwhile(_conn: object, _c: object, statement: str, *_: object) -> None:
        if "wal_checkpoint" in statement:
            other.execute("INSERT INTO scratch VALUES (?)", ("y" * 3000,))
            other.execute("COMMIT")

    lengths = []
    for _ in range(30):
        for _ in range(5):
            await sqlite_db.write(one)
        lengths.append(await sqlite_db.checkpoint())
    other.close()
    await sqlite_db.dispose()
    assert max(lengths) <= 2 * lengths[1], f"the log grew: {lengths}"


def call_row(i: int, **extra: object) -> NewRow:
    values: dict[str, object] = {
        "community": "c",
        "round_id": None,
        "purpose": "test",
        "model": "m",
        "prompt_hash": f"h{i}",
        "sample": 0,
        "outcome": "ok",
        "detail": "",
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "latency_ms": 3.0,
        "cost_usd": None,
        "at": AT,
    }
    values.update(extra)
    return NewRow(LLMCallRow, values)


def cache_row(digest: str, text: str) -> NewRow:
    values = {"prompt_hash": digest, "sample": 0, "model": "m", "text": text, "created_at": AT}
    return NewRow(LLMCacheRow, values, unique=("prompt_hash", "sample"))


async def test_appends_that_arrive_together_share_one_commit(database: Database) -> None:
    commits: list[None] = []
    for engine in database.sync_engines():
        event.listen(engine, "commit", lambda _conn: commits.append(None))
    appender = RowAppender(database)
    # 20 tasks append at once; the second answer for h1 repeats a cache key and is skipped
    await asyncio.gather(
        *(appender.append(call_row(i), cache_row(f"h{i}", f"answer {i}")) for i in range(20)),
        appender.append(call_row(1, outcome="ok", detail="again"), cache_row("h1", "a later answer")),
    )
    assert len(commits) <= 2  # the first append's own commit, then everything that queued meanwhile
    async with UnitOfWorkFactory(database)() as u:
        calls = (await u.session.exec(select(LLMCallRow))).all()
        cache = {r.prompt_hash: r.text for r in (await u.session.exec(select(LLMCacheRow))).all()}
    assert len(calls) == 21 and sorted(c.detail for c in calls).count("again") == 1
    assert len(cache) == 20 and cache["h1"] == "answer 1"
    await appender.close()


async def test_a_batch_that_fails_confirms_none_of_its_rows(database: Database) -> None:
    appender = RowAppender(database)
    bad = NewRow(LLMCallRow, {"community": "c", "purpose": "x", "outcome": "ok"})  # no model, prompt hash or time
    results = await asyncio.gather(appender.append(call_row(1)), appender.append(bad), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results[1:])
    async with UnitOfWorkFactory(database)() as u:
        stored = (await u.session.exec(select(func.count()).select_from(LLMCallRow))).one()
    assert stored == (0 if isinstance(results[0], Exception) else 1)  # the first may have committed alone
    await appender.append(call_row(2))  # the writer carries on
    async with UnitOfWorkFactory(database)() as u:
        assert (await u.session.exec(select(func.count()).select_from(LLMCallRow))).one() == stored + 1
    await appender.close()


class Doubler(GroupCommit[int, int]):
    """A group commit without a database: each batch is 'written' by doubling, and remembered."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []

    async def write(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)
        return [ValueError(f"odd {i}") if i % 2 else i * 2 for i in items]


async def test_group_commit_answers_each_caller_and_survives_a_cancelled_one() -> None:
    doubler = Doubler()
    first = asyncio.create_task(doubler.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(doubler.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)  # all five are queued behind the first batch
    rest[1].cancel()  # submit(2) gives up while waiting; its item is written all the same
    done = await asyncio.gather(first, *rest, return_exceptions=True)
    assert done[0] == 0 and isinstance(done[1], ValueError) and isinstance(done[2], asyncio.CancelledError)
    assert done[3:] == [done[3], 8, done[5]] and isinstance(done[3], ValueError) and isinstance(done[5], ValueError)
    assert doubler.batches == [[0], [1, 2, 3, 4, 5]]
    assert await doubler.submit(10) == 20
    await doubler.close()


async def test_closing_fails_what_is_queued_and_in_flight() -> None:
    doubler = Doubler()
    first = asyncio.create_task(doubler.submit(0))
    await asyncio.sleep(0)  # the writer is inside write([0])
    queued = asyncio.create_task(doubler.submit(2))
    await asyncio.sleep(0)
    await doubler.close()
    for task in (first, queued):
        with pytest.raises(RuntimeError, match="closed before"):
            await asyncio.wait_for(task, 5)


async def test_only_sqlite_writers_queue_in_the_bot(database: Database) -> None:
    """Two open writing transactions in one task: on PostgreSQL both proceed (row locks suffice
    there); on SQLite the second waits at the gate until the first ends."""
    uow = UnitOfWorkFactory(database)
    async with uow() as a, uow() as b:
        a.session.add(PolicyRow(community="c", name="a", created_by="m", created_at=AT))
        await a.session.flush()
        b.session.add(PolicyRow(community="c", name="b", created_by="m", created_at=AT))
        if database.is_sqlite:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(b.commit(), 0.3)
        else:
            await asyncio.wait_for(b.commit(), 5)
        await a.commit()
    async with uow() as u:
        names = sorted((await u.session.exec(select(PolicyRow.name))).all())
    assert names == (["a"] if database.is_sqlite else ["a", "b"])


async def test_flush_waits_for_what_came_before_it_only() -> None:
    doubler = Doubler()
    await doubler.flush()  # nothing submitted: returns at once
    before = [asyncio.create_task(doubler.submit(i)) for i in (0, 2, 4)]
    await asyncio.sleep(0)
    flushed = asyncio.create_task(doubler.flush())
    await asyncio.sleep(0)
    after = asyncio.create_task(doubler.submit(6))
    await asyncio.wait_for(flushed, 5)
    assert all(t.done() for t in before) and [t.result() for t in before] == [0, 4, 8]
    assert await after == 12
    await doubler.close()
