"""`policybot export` as a subprocess against the seeded database: bundle, zip, refusal without secret."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from bot.bootstrap import App
from bot.export import verify_bundle
from tests.export.conftest import SECRET
from tests.export.seed import seed_round
from tests.export.test_bundle import aid


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("POLICYBOT_")} | env
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "export", *args], capture_output=True, text=True, timeout=120, env=full
    )


async def test_cli_exports_a_community_and_refuses_without_secret(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp)
    url = xapp.database.url
    args = (
        "--community",
        s.community,
        "--policy",
        "kind",
        "--formats",
        "trl,polis,events",
        "--parquet",
        "--zip",
        "--policy-prompt",
    )
    refused = await asyncio.to_thread(cli, *args, "--out", str(tmp_path / "refused"), env={"POLICYBOT_DATABASE_URL": url})
    assert refused.returncode == 1 and "POLICYBOT_EXPORT_SECRET" in refused.stderr
    assert not (tmp_path / "refused").exists()
    env = {"POLICYBOT_DATABASE_URL": url, "POLICYBOT_EXPORT_SECRET": SECRET}
    done = await asyncio.to_thread(cli, *args, "--out", str(tmp_path / "out"), env=env)
    assert done.returncode == 0, done.stderr
    assert "comparisons 9" in done.stdout and "zip:" in done.stdout
    root = tmp_path / "out"
    assert verify_bundle(root) == []
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["scope"] == {"kind": "policy", "round_id": None, "policy": "kind", "rounds": [s.round_id]}
    assert {f["path"] for f in manifest["files"]} >= {
        "trl_preference.jsonl",
        "parquet/trl_preference.parquet",
        "parquet/README.md",
        "polis/votes.csv",
        "events.jsonl",
    }
    assert aid(s.community, "alice") in (root / "events.jsonl").read_text()
    assert manifest["system_prompt_in_prompts"] is True
    first = json.loads((root / "trl_preference.jsonl").read_text().splitlines()[0])
    assert first["prompt"][0]["role"] == "system" and "Never give medical advice." in first["prompt"][0]["content"]
    with zipfile.ZipFile(tmp_path / "out.zip") as z:
        assert "out/manifest.json" in z.namelist()
    again = await asyncio.to_thread(cli, *args, "--out", str(root), env=env)
    assert again.returncode == 1 and "already exists" in again.stderr
    other = await asyncio.to_thread(cli, "--community", "guild-9", "--out", str(tmp_path / "none"), env=env)
    assert other.returncode == 1 and "nothing to export" in other.stderr
