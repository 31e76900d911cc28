"""The Alembic migrations build exactly the schema the tables declare."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.tables  # noqa: F401
from storage.database import Database
from storage.migrate import upgrade


async def test_migrations_match_tables(database: Database) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(ctx, SQLModel.metadata)

    async with database.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], changes


def _round(con: sqlite3.Connection, version_id: int, phase: str) -> None:
    con.execute(
        "INSERT INTO round (community, platform, channel, policy_version_id, phase, k, opened_by, opened_at,"
        " phase_changed_at, review_seconds, amend_seconds, vote_seconds, quorum_count, quorum_share, threshold,"
        " threshold_inclusive, bridging_min_voters, note)"
        " VALUES ('c', 'test', 'general', ?, ?, 2, 'mod', '2026-11-23', '2026-11-23', 60, 60, 60, 1, 0, '1/2', 0, 0, '')",
        (version_id, phase),
    )


def _before_0007(tmp_path: Path) -> tuple[str, sqlite3.Connection]:
    """A database as the previous release left it: every migration but 0007, two policies, two versions."""
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    for head in ("0002_generation", "0003_scheduling", "0004_privacy", "0005_analysis", "0006_discord"):
        upgrade(url, head)
    con = sqlite3.connect(path)
    for name in ("a", "b"):
        con.execute(
            "INSERT INTO policy (community, name, created_by, created_at, next_clause_number)"
            " VALUES ('c', ?, 'mod', '2026-11-23', 1)",
            (name,),
        )
    for policy_id in (1, 2):
        con.execute(
            "INSERT INTO policy_version (policy_id, version, created_by, created_at, changelog)"
            " VALUES (?, 1, 'mod', '2026-11-23', '')",
            (policy_id,),
        )
    return url, con


def test_0007_fills_in_each_round_policy(tmp_path: Path) -> None:
    url, con = _before_0007(tmp_path)
    _round(con, 1, "closed")
    _round(con, 1, "review")
    _round(con, 2, "vote")
    con.commit()
    upgrade(url)
    assert con.execute("SELECT id, policy_id FROM round ORDER BY id").fetchall() == [(1, 1), (2, 1), (3, 2)]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        _round(con, 1, "opening")
        con.execute("UPDATE round SET policy_id = 1 WHERE id = 4")
    con.close()


def test_0007_refuses_a_policy_running_two_rounds_and_says_which(tmp_path: Path) -> None:
    url, con = _before_0007(tmp_path)
    _round(con, 1, "review")
    _round(con, 1, "vote")
    con.commit()
    with pytest.raises(RuntimeError, match=r"policy 1: rounds #1 … #2.*Cancel the extra ones"):
        upgrade(url)
    con.execute("UPDATE round SET phase = 'cancelled' WHERE id = 2")  # as /round cancel 2 does
    con.commit()
    upgrade(url)  # nothing was half-done: the same upgrade now goes through
    assert con.execute("SELECT id, phase, policy_id FROM round ORDER BY id").fetchall() == [(1, "review", 1), (2, "cancelled", 1)]
    con.close()
