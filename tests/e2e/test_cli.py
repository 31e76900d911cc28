"""The policybot command line: help on every command, and the schema upgrade."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, cwd=cwd)  # fmt: skip


@pytest.mark.parametrize("args", [["--help"], ["console", "--help"], ["db", "--help"], ["db", "upgrade", "--help"]])
def test_help(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout


def test_console_help_explains_the_syntax() -> None:
    out = run("console", "--help").stdout
    assert "alice>" in out and "/as" in out


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    done = run("db", "upgrade", env={"POLICYBOT_DATABASE_URL": f"sqlite:///{db}"})
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    engine = create_engine(f"sqlite:///{db}")
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"policy", "policy_version", "clause", "scenario", "round", "candidate", "reaction_event", "amendment",
            "ballot_event", "tally", "alembic_version"} <= tables  # fmt: skip


def test_console_reports_a_bad_line_and_goes_on(tmp_path: Path) -> None:
    env = {"POLICYBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    proc = subprocess.run([sys.executable, "-m", "adapters.cli", "console"], input="/nonsense\n/policy list\n",
                          capture_output=True, text=True, timeout=60, env={**os.environ, **env}, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "✗ Unknown command '/nonsense'" in proc.stdout
    assert "No policy yet" in proc.stdout


def test_a_bad_setting_is_named_and_nothing_is_created(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    env = {"POLICYBOT_DATABASE_URL": f"sqlite:///{db}", "POLICYBOT_LLM_WORKER": "fork", "POLICYBOT_LLM_TIMEOUT": "-1"}
    done = run("db", "upgrade", env=env)
    assert done.returncode == 2
    assert "POLICYBOT_LLM_WORKER: Input should be 'process' or 'thread' (got 'fork')" in done.stderr
    assert "POLICYBOT_LLM_TIMEOUT: Input should be greater than 0" in done.stderr
    assert "Traceback" not in done.stderr and not db.exists()
