"""Export speed and memory: 200,000 pairwise comparisons from 3,000 members written as TRL JSONL and
as Parquet, then the same with the data doubled (400,000 from 6,000) to see that memory stays flat.

    python bench/export.py [--members 3000] [--keep]

Seeding is not measured: the SQLite database is filled with bulk inserts (sqlite3 executemany) of one
round: 20 scenarios × 4 model candidates (~600 characters each); each member picks the best of 16 or
17 scenarios, endorses one other candidate, objects to one and passes on the last, so each scenario
gives 3 best-pick pairs + 1 endorse-over-object pair (66.7 comparisons a member on average).

Each export runs in a fresh subprocess (`export_bundle`, as `policybot export` calls it). Time is wall
time of the export call alone (reading, deriving, writing, dataset card, SHA-256 of every file), with
its CPU time (user + sys of the process) beside it: on a shared machine the wall time includes waiting
for a core, the CPU time does not. The machine's load average is printed with the results.
Memory is the subprocess's peak resident set size (VmHWM from /proc: everything the process held,
interpreter and libraries included), and, beside it, the resident size just before the export
started, so the export's own share is visible. Results are printed last, one per line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMUNITY = "bench-guild"
SCENARIOS = 20
K = 4
SECRET = "bench-export-secret-0123456789abcdef"
TARGET_SECONDS = 5.0
TARGET_MB = 300.0
TARGET_GROWTH = 0.10
_PHRASE = (
    "the policy asks the model to answer kindly and to cite sources where it can while never giving medical advice "
    "instead it suggests seeing a doctor and explains general first aid steps with care for the person asking"
)
WORDS = tuple(_PHRASE.split(" "))


def _text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    n = 0
    while n < chars:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out).capitalize() + "."


def _sqlite_time(moment: datetime) -> str:
    """As SQLAlchemy stores a DateTime in SQLite (UTC, no offset)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def seed(path: Path, members: int) -> int:
    """Fill a migrated SQLite database; returns the number of comparisons the export should find."""
    from storage.migrate import upgrade

    upgrade(f"sqlite:///{path}")
    rng = random.Random(7)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    ts = _sqlite_time(t0)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    cur = db.cursor()
    cur.execute(
        "INSERT INTO policy (id, community, name, created_by, created_at, next_clause_number) VALUES (1, ?, 'kind', 'mod', ?, 4)",
        (COMMUNITY, ts),
    )
    cur.execute(
        "INSERT INTO policy_version (id, policy_id, version, created_by, created_at, changelog) VALUES (1, 1, 1, 'mod', ?, '')",
        (ts,),
    )
    cur.executemany(
        "INSERT INTO clause (policy_version_id, position, clause_key, text) VALUES (1, ?, ?, ?)",
        [(i, f"c{i}", t) for i, t in enumerate(("Be kind.", "Cite sources.", "Never give medical advice."), 1)],
    )
    cur.executemany(
        "INSERT INTO scenario (id, community, title, turns_json, created_by, created_at, removed)"
        " VALUES (?, ?, '', ?, 'mod', ?, 0)",
        [(s, COMMUNITY, json.dumps([{"role": "user", "content": _text(rng, 160) + "?"}]), ts) for s in range(1, SCENARIOS + 1)],
    )
    cur.execute(
        "INSERT INTO round (id, community, platform, channel, policy_version_id, phase, k, opened_by, opened_at,"
        " phase_changed_at, review_seconds, amend_seconds, vote_seconds, quorum_count, quorum_share, threshold,"
        " threshold_inclusive,"
        " bridging_min_voters, note) VALUES (1, ?, 'discord', 'general', 1, 'closed', ?, 'mod', ?, ?, 3600, 3600, 3600, 1, 0,"
        " '1/2', 0, 0, '')",
        (COMMUNITY, K, ts, ts),
    )
    cur.executemany(
        "INSERT INTO round_scenario (round_id, scenario_id, position) VALUES (1, ?, ?)",
        [(s, s - 1) for s in range(1, SCENARIOS + 1)],
    )
    candidates: dict[int, list[int]] = {}
    rows = []
    cid = 0
    for s in range(1, SCENARIOS + 1):
        for p in range(K):
            cid += 1
            candidates.setdefault(s, []).append(cid)
            settings = json.dumps({"k": K, "stance": f"stance {p}", "max_tokens": 800})
            rows.append((cid, s, p, _text(rng, 600), ts, settings))
    cur.executemany(
        "INSERT INTO candidate (id, round_id, scenario_id, position, text, author_kind, model, method, temperature,"
        " prompt_version, prompt_hash, settings_json, created_at) VALUES (?, 1, ?, ?, ?, 'model', 'openai/gpt-4o-mini',"
        " 'negatively-correlated', 0.9, 'v2', 'abc123', ?, ?)",
        [(c, s, p, t, settings, at) for c, s, p, t, at, settings in rows],
    )
    comparisons = 0
    seq = 0
    batch: list[tuple[object, ...]] = []
    stances = ("best", "endorse", "object", "pass")
    for m in range(members):
        member = str(1_100_000_000_000_000_000 + rng.randrange(10**17))  # snowflake-like platform ids
        n_scen = 17 if m % 3 != 2 else 16
        for s in rng.sample(range(1, SCENARIOS + 1), n_scen):
            order = rng.sample(candidates[s], K)  # best, endorse, object, pass
            comparisons += 4
            for stance, cand in zip(stances, order, strict=True):
                seq += 1
                reason = "too cautious for a simple question" if seq % 10 == 0 else ""
                at = _sqlite_time(t0 + timedelta(seconds=seq))
                batch.append((COMMUNITY, cand, member, stance, reason, f"evt-{seq}", at))
        if len(batch) >= 50_000:
            _flush(cur, batch)
    _flush(cur, batch)
    db.commit()
    db.close()
    return comparisons


def _flush(cur: sqlite3.Cursor, batch: list[tuple[object, ...]]) -> None:
    cur.executemany(
        "INSERT INTO reaction_event (community, round_id, candidate_id, member, stance, action, reason, event_key, at)"
        " VALUES (?, 1, ?, ?, ?, 'add', ?, ?, ?)",
        batch,
    )
    batch.clear()


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(db: str, fmt: str, out: str) -> None:
    """One export in this process; prints one JSON line."""
    from bot.export import ExportRequest, Scope, export_bundle
    from storage.database import Database
    from storage.uow import UnitOfWorkFactory

    async def run() -> dict[str, float]:
        database = Database(f"sqlite:///{db}")
        request = ExportRequest(Scope(COMMUNITY), formats=("trl",), jsonl=fmt == "jsonl", parquet=fmt == "parquet")
        before = _status("VmRSS")
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        result = await export_bundle(UnitOfWorkFactory(database), request, Path(out), secret=SECRET, now=datetime.now(UTC))
        seconds = time.perf_counter() - t
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_seconds = used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime
        await database.dispose()
        size = sum(f["bytes"] for f in result.manifest["files"])
        return {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "rss_before_mb": before,
            "peak_mb": _status("VmHWM"),
            "comparisons": result.manifest["counts"]["comparisons"],
            "bytes": size,
        }

    print(json.dumps(asyncio.run(run())))


def measure(db: Path, fmt: str, out: Path) -> dict[str, float]:
    os.sync()  # the disk writes of seeding or of the previous run are not billed to this one
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(db), fmt, str(out)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    shutil.rmtree(out, ignore_errors=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary databases")
    parser.add_argument("--child", nargs=3, metavar=("DB", "FORMAT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="policybot-bench-export-"))
    results: dict[tuple[int, str], dict[str, float]] = {}
    try:
        for scale in (1, 2):
            members = args.members * scale
            db = work / f"x{scale}.db"
            t = time.perf_counter()
            expected = seed(db, members)
            print(
                f"seeded {members} members, {expected} comparisons in {time.perf_counter() - t:.1f} s (not measured)", flush=True
            )
            for fmt in ("jsonl", "parquet"):
                r = measure(db, fmt, work / f"out-{scale}-{fmt}")
                assert r["comparisons"] == expected, (r, expected)
                results[(scale, fmt)] = r
                print(f"  {fmt}: {json.dumps(r)}", flush=True)
            if not args.keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    base = int(results[(1, "jsonl")]["comparisons"])
    lines: list[str] = []
    for fmt, name in (("jsonl", "TRL JSONL"), ("parquet", "TRL Parquet")):
        one, two = results[(1, fmt)], results[(2, fmt)]
        growth = two["peak_mb"] / one["peak_mb"] - 1
        lines += [
            f"{name} export time, {base:,} comparisons: {one['seconds']:.2f} s",
            f"{name} export CPU time (user + sys, all threads), {base:,} comparisons: {one['cpu_seconds']:.2f} s",
            f"{name} export rate: {one['comparisons'] / one['seconds']:,.0f} comparisons/s",
            f"{name} file size: {one['bytes'] / 1e6:.0f} MB",
            f"{name} peak RSS of the export process, {base:,} comparisons: {one['peak_mb']:.0f} MB",
            f"{name} RSS before the export started (interpreter and libraries): {one['rss_before_mb']:.0f} MB",
            f"{name} export time, {2 * base:,} comparisons: {two['seconds']:.2f} s",
            f"{name} peak RSS, {2 * base:,} comparisons: {two['peak_mb']:.0f} MB",
            f"{name} peak RSS growth when the data doubles: {100 * growth:.1f} %",
        ]
    lines += [
        f"machine load average (1 min) at the end, on {os.cpu_count()} cores: {os.getloadavg()[0]:.1f}",
        f"target time each (200,000 comparisons): {TARGET_SECONDS:.0f} s",
        f"target peak memory: {TARGET_MB:.0f} MB",
        f"target peak growth when the data doubles: {100 * TARGET_GROWTH:.0f} %",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
