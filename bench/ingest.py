"""Reactions recorded durably per second through the engine, and per-event latency while a round's
candidates are being generated.

    python bench/ingest.py [--events 20000] [--pg postgresql://postgres@127.0.0.1:5432/test]

The app is built as `policybot run` builds it: bootstrap() with its default generator (litellm in
its child process), then App.start(). Throughput: many members react at once (closed loop, 256 in
flight); every reply is awaited, and a reply is sent only after the event's batch has committed.
Latency: events arrive at a steady rate (open loop) while another round's candidates are generated
by real litellm against a slow local OpenAI-compatible server (in its own process, as a remote
provider would be). Its p99 is over the events that arrived from /round open until that round is
open and posted; the whole window's p99 is printed beside it. The references, measured in the same
run: for the rate, raw sqlite3 executemany of the same rows in one transaction; for the latency, a
bare insert loop (sqlite3 on the event loop, one INSERT and COMMIT per event, into a file of its
own) fed at the same rate in the same process while a third round generates and posts the same way. Results
are printed last, one per line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-local-bench")  # the loopback server ignores it; litellm wants one

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from bot.bootstrap import App, bootstrap
from bot.domain import commands as c
from bot.domain.model import Stance, Turn
from bot.settings import Settings
from storage.database import Database, async_url
from storage.migrate import upgrade_async
from storage.tables import CandidateRow, ReactionEventRow
from tests.support.fakes import FakeChat
from tests.support.openai_server import ServerProcess

MOD = c.Actor("bench", "bench-community", "mod", "Mod", True)
STANCES = (Stance.ENDORSE, Stance.OBJECT, Stance.PASS)


async def prepare(url: str, api_base: str) -> tuple[App, list[int]]:
    await upgrade_async(url)
    settings = Settings(database_url=url, model="openai/bench-model", llm_api_base=api_base, llm_timeout=30, llm_retries=0)
    app = bootstrap(settings, FakeChat(), database=Database(url))
    e = app.engine
    for name in ("target", "busy", "reference"):
        assert (await e.dispatch(c.CreatePolicy(MOD, name, "1. Be kind.\n2. Cite sources."))).ok
    for i in range(30):
        assert (await e.dispatch(c.AddScenario(MOD, (Turn("user", f"Scenario {i}?"),)))).ok
    assert (await e.dispatch(c.OpenRound(MOD, "target", "general", tuple(range(1, 11)), k=4))).ok
    await e.drain()
    async with app.engine.services.uow() as uow:
        ids = [i for i in (await uow.session.exec(select(CandidateRow.id))).all() if i is not None]
    assert len(ids) == 40, "the target round needs its 40 candidates"
    return app, ids


def reaction(i: int, candidates: list[int]) -> c.RecordReaction:
    member = f"member-{i % 5000}"
    return c.RecordReaction(
        c.Actor("bench", "bench-community", member),
        STANCES[i % 3],
        f"evt-{uuid.uuid4()}",
        candidate_id=candidates[i % len(candidates)],
    )


async def throughput(app: App, candidates: list[int], n: int, in_flight: int = 256) -> float:
    queue = iter(range(n))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for i in queue:
            if not (await app.engine.dispatch(reaction(i, candidates))).ok:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    assert failures == 0, f"{failures} reactions failed"
    return n / elapsed


@dataclass
class Window:
    latencies: list[float]  # ms, every event of the window
    during: list[float]  # ms, the events that arrived while the round was generating and posting
    generating_s: float  # how long that took, from /round open to the round open for review and posted
    busy: float  # share of that time the event loop's thread spent on the CPU


async def while_generating(
    app: App, policy: str, scenarios: range, send: Callable[[int], Awaitable[None]], rate: float, seconds: float
) -> Window:
    """Open-loop arrivals at `rate` per second, each handled by `send`, while a round of `policy`
    generates 10 × 4 candidates and posts them."""
    opened, cpu = time.perf_counter(), time.thread_time()
    assert (await app.engine.dispatch(c.OpenRound(MOD, policy, "general", tuple(scenarios), k=4))).ok
    (generation,) = [t for t in asyncio.all_tasks() if t.get_name().startswith("generate-round")]
    generated: list[float] = []
    generation.add_done_callback(lambda _t: generated.extend((time.perf_counter(), time.thread_time())))
    timed: list[tuple[float, float]] = []  # (arrival, latency in ms)
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, due: float) -> None:
        # timed from when the event was due, not from when its task first ran: a busy event loop
        # delays both, and a member waits for both
        await send(i)
        timed.append((due, (time.perf_counter() - due) * 1000))

    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(1_000_000 + i, due)))
        i += 1
    await asyncio.gather(*tasks)
    await app.engine.drain()
    assert generated and generated[0] < start + seconds, "the window must outlast the round's generation"
    during = [ms for t0, ms in timed if t0 <= generated[0]]
    return Window([ms for _, ms in timed], during, generated[0] - opened, (generated[1] - cpu) / (generated[0] - opened))


async def latency_while_generating(app: App, candidates: list[int], rate: float, seconds: float) -> Window:
    """Reactions through the engine while the 'busy' round generates."""

    async def react(i: int) -> None:
        reply = await app.engine.dispatch(reaction(i, candidates))
        assert reply.ok, reply.text

    return await while_generating(app, "busy", range(11, 21), react, rate, seconds)


async def bare_loop_while_generating(app: App, rate: float, seconds: float) -> Window:
    """The reference: the same arrivals each stored at once by a bare sqlite3 INSERT and COMMIT on
    the event loop (a file of its own, no driver thread, no batching) while the 'reference' round
    generates and posts: what this machine and the concurrent generation leave for any store here."""
    path = Path(tempfile.mkdtemp()) / "bare.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("create table reaction_event (id integer primary key, member text, stance text, event_key text unique, at text)")

    async def store(i: int) -> None:
        con.execute(
            "insert into reaction_event (member, stance, event_key, at) values (?, ?, ?, ?)",
            (f"member-{i % 5000}", STANCES[i % 3].value, f"evt-{i}", "2026-12-02T00:00:00"),
        )
        con.commit()

    try:
        return await while_generating(app, "reference", range(21, 31), store, rate, seconds)
    finally:
        con.close()


def raw_sqlite_limit(n: int) -> float:
    path = Path(tempfile.mkdtemp()) / "raw.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "create table reaction_event (id integer primary key, community text, round_id int, candidate_id int,"
        " member text, stance text, action text, reason text, event_key text, at text,"
        " unique(community, event_key))"
    )
    rows = [("bench", 1, i % 40, f"member-{i % 5000}", "endorse", "add", "", f"evt-{i}", "2026-11-23T00:00:00") for i in range(n)]
    started = time.perf_counter()
    with con:
        con.executemany(
            "insert into reaction_event (community, round_id, candidate_id, member, stance, action, reason,"
            " event_key, at) values (?,?,?,?,?,?,?,?,?)",
            rows,
        )
    elapsed = time.perf_counter() - started
    con.close()
    return n / elapsed


async def count_events(app: App) -> int:
    async with app.engine.services.uow() as uow:
        return int((await uow.session.exec(select(func.count()).select_from(ReactionEventRow))).one())


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def run_backend(label: str, url: str, api_base: str, events: int, rate: float, seconds: float) -> list[str]:
    app, candidates = await prepare(url, api_base)
    async with app.running():  # as `policybot run` does
        per_second = await throughput(app, candidates, events)
        window = await latency_while_generating(app, candidates, rate, seconds)
        stored = await count_events(app)
        bare = await bare_loop_while_generating(app, rate, seconds) if label == "sqlite" else None
        expected = events + len(window.latencies)
        assert stored == expected, f"lost events: stored {stored}, sent {expected}"
        print(
            f"{label}: {events} events, {len(window.latencies)} more at {rate:.0f}/s in a {seconds:.0f} s window, "
            f"{len(window.during)} of them while the round generated and posted ({window.generating_s:.2f} s); "
            f"{stored} stored (none lost)",
            file=sys.stderr,
        )
        p99 = pct(window.during, 99)
        lines = [
            f"{label} ingest: {per_second:.0f} events/s",
            f"{label} p50 latency while generating: {pct(window.during, 50):.1f} ms",
            f"{label} p99 latency while generating: {p99:.1f} ms",
            f"{label} p99 latency, whole {seconds:.0f} s window: {pct(window.latencies, 99):.1f} ms",
            f"{label} events lost: {expected - stored} events",
            f"{label} event loop on the CPU while generating: {window.busy * 100:.0f} %",
        ]
        if bare is not None:
            lines += [
                f"reference p99, bare insert loop while a round generates: {pct(bare.during, 99):.1f} ms",
                f"{label} p99 / bare insert loop p99: {p99 / pct(bare.during, 99):.1f} x",
            ]
        return lines


async def reset_pg(url: str) -> str:
    name = f"policybot_bench_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def drop_pg(admin_url: str, url: str) -> None:
    from sqlalchemy.engine import make_url

    engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events/s during the latency window")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the latency window")
    parser.add_argument("--llm-latency", type=float, default=0.5, help="seconds per LLM call of the slow server")
    parser.add_argument("--pg", default=os.environ.get("POLICYBOT_TEST_DATABASE_URL"), help="PostgreSQL admin URL")
    args = parser.parse_args()
    lines: list[str] = []
    with ServerProcess(args.llm_latency) as server:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
        lines += await run_backend("sqlite", url, server.api_base, args.events, args.rate, args.seconds)
        if args.pg:
            pg_url = await reset_pg(args.pg)
            try:
                lines += await run_backend("postgresql", pg_url, server.api_base, args.events, args.rate, args.seconds)
            finally:
                await drop_pg(args.pg, pg_url)
    limit = raw_sqlite_limit(args.events)
    sqlite_rate = float(lines[0].split(": ")[1].split()[0])
    lines += [
        f"raw sqlite3 executemany, one transaction (limit): {limit:.0f} events/s",
        f"engine / raw sqlite ratio: {sqlite_rate / limit:.2f} x",
        "target sqlite ingest: 5000 events/s",
        "target p99 latency while generating: 20 ms",
        f"machine load average (1 min) at the end, on {os.cpu_count()} cores: {os.getloadavg()[0]:.1f}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
