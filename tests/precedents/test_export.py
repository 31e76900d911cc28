"""The precedents and their checks exported with the rounds, as `datasets` loads them (JSON Lines and
Parquet): each precedent with its "like this" and "not like this" candidates and counts, each check
with its verdict, reason, new answer, models, prompt hashes and judge prompt version; never who
retired a precedent, nor anyone's private tries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import Turn
from bot.export.bundle import ExportRequest, ExportResult, export_bundle
from bot.export.context import Scope
from bot.generation.precedent_checks import JUDGE_PROMPT_VERSION
from tests.conftest import actor
from tests.generation.conftest import MakeApp
from tests.precedents.conftest import FIRST_AID, REFUSAL, closed_round_with_a_verdict, vote_on
from tests.precedents.test_precedents import BE_CONCISE, GIVE_FIRST_AID

SECRET = "precedent-export-secret-0123456789"


async def export(app: App, out: Path, **kw: Any) -> ExportResult:
    svc = app.engine.services
    request = ExportRequest(Scope("guild-1"), formats=("precedents", "precedent-checks"), **kw)
    return await export_bundle(svc.uow, request, out, secret=SECRET, now=svc.now(), opinion_groups=svc.opinion_groups)


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_precedents_and_their_checks_are_exported_with_the_rounds(make_app: MakeApp, mod: Actor, tmp_path: Path) -> None:
    app = await make_app()
    ids = await closed_round_with_a_verdict(app, mod)
    await vote_on(app, mod, 2, GIVE_FIRST_AID, BE_CONCISE)
    e = app.engine
    assert (await e.dispatch(c.TryPrompt(actor("alice"), (Turn("user", "A private question nobody else should see?"),)))).ok
    retiring = actor("zed-the-moderator", moderator=True)
    assert (await e.dispatch(c.RetirePrecedent(retiring, 1, "we changed our minds on burns"))).ok

    result = await export(app, tmp_path / "bundle", parquet=True)
    root = result.directory
    (precedent,) = rows(root / "precedents.jsonl")
    assert (precedent["precedent_id"], precedent["round_id"], precedent["scenario_id"], precedent["status"]) == (
        1,
        1,
        1,
        "retired",
    )
    assert precedent["like_candidate_ids"] == [ids[REFUSAL]] and precedent["unlike_candidate_ids"] == [ids[FIRST_AID]]
    like = precedent["answers"][0]
    assert (like["verdict"], like["basis"], like["endorse"], like["object"], like["pass"]) == ("like", "consensus", 3, 0, 0)
    checks = {r["amendment_id"]: r for r in rows(root / "precedent_checks.jsonl")}
    assert (checks[1]["verdict"], checks[1]["answer"], checks[1]["subject"]) == ("inconsistent", FIRST_AID, "amendment")
    assert (checks[2]["verdict"], checks[2]["answer"]) == ("consistent", REFUSAL)
    assert all(r["judge_prompt_version"] == JUDGE_PROMPT_VERSION and len(r["judge_prompt_hash"]) == 64 for r in checks.values())
    assert all(r["precedent_id"] == 1 and r["round_id"] == 2 for r in checks.values())

    everything = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file() and p.suffix != ".parquet")
    assert "we changed our minds" not in everything and retiring.member not in everything  # who retired it, and why
    assert "A private question" not in everything  # tries are never exported

    for name in ("precedents", "precedent-checks"):  # both encodings load under the declared features
        loaded = datasets.load_dataset(str(root), name, split="train")
        parquet = datasets.load_dataset(str(root / "parquet"), name, split="train")
        assert loaded.num_rows == parquet.num_rows == (1 if name == "precedents" else 2)
        assert loaded.features == parquet.features
    counts = result.manifest["counts"]
    assert (counts["precedents"], counts["precedent_checks"], counts["precedent_checks_not_checked"]) == (1, 2, 0)
    card = (root / "README.md").read_text(encoding="utf-8")
    assert "precedents recorded by these rounds" in card and "precedent checks made in these rounds" in card
