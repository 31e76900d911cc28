"""Export bundles from real rounds: every format loaded by its consumer, provenance, pairs derived
from the raw reaction events, checksums, pseudonymous ids, and one community's data only."""

from __future__ import annotations

import asyncio
import csv
import functools
import http.server
import json
import threading
import warnings
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from bot.bootstrap import App
from bot.errors import CommandError
from bot.export import ExportRequest, Scope, annotator_id, export_bundle, verify_bundle, zip_bundle
from bot.export import derive as derive_module
from bot.export.bundle import ExportResult
from tests.export.checkers import (
    check_community_alignment,
    check_openai_preference,
    check_provenance,
    check_trl_preference,
    check_trl_unpaired,
    read_polis,
)
from tests.export.conftest import SECRET
from tests.export.seed import Seeded, seed_round
from tests.support.fakes import FixedClock


async def export(
    app: App, tmp_path: Path, scope: Scope, name: str = "bundle", *, secret: str | None = SECRET, **kw: Any
) -> ExportResult:
    request = ExportRequest(scope, **kw)
    svc = app.engine.services
    return await export_bundle(svc.uow, request, tmp_path / name, secret=secret, now=svc.now(), opinion_groups=svc.opinion_groups)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def aid(community: str, member: str, secret: str = SECRET) -> str:
    return annotator_id(secret.encode(), "test", community, member)


def card_header(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n", 2)[1])
    assert isinstance(header, dict)
    return header


def load(root: Path, cache: Path, name: str | None = None) -> datasets.Dataset:
    """A config of the bundle's dataset card, loaded by `datasets` as a researcher would: no data_files."""
    ds = datasets.load_dataset(str(root), name, split="train", cache_dir=str(cache))
    assert isinstance(ds, datasets.Dataset)
    return ds


def as_written(rows: list[dict[str, Any]], features: datasets.Features) -> list[dict[str, Any]]:
    """JSON rows with their ISO 8601 timestamps read as the declared timestamp type reads them."""
    stamps = [n for n, f in features.items() if isinstance(f, datasets.Value) and f.dtype.startswith("timestamp")]
    return [{k: datetime.fromisoformat(v) if k in stamps and v else v for k, v in r.items()} for r in rows]


def assert_configs_load(root: Path, cache: Path, manifest: dict[str, Any]) -> None:
    """Every config of the bundle's card loads by name with its declared features and row count, as
    written; every Parquet config loads from parquet/ with the same features and the same rows."""
    rows = {f["path"]: f["rows"] for f in manifest["files"]}
    header = card_header(root / "README.md")
    infos = {i["config_name"]: i for i in header["dataset_info"]}
    parquet = (root / "parquet" / "README.md").exists()
    for config in header["configs"]:
        name, path = config["config_name"], config["data_files"][0]["path"]
        ds = load(root, cache, name)
        assert ds.num_rows == rows[path] == infos[name]["splits"][0]["num_examples"], name
        assert ds.features == datasets.Features._from_yaml_list(infos[name]["features"]), name
        assert ds.to_list() == as_written(jsonl(root / path), ds.features), name  # the declared types hold every row
        if parquet and name not in ("openai", "openai-provenance"):
            pds = load(root / "parquet", cache, name)
            assert pds.features == ds.features and pds.to_list() == ds.to_list(), name


@pytest.fixture
async def seeded(xapp: App) -> Seeded:
    return await seed_round(xapp)


async def test_every_config_loads_in_datasets_jsonl_and_parquet(xapp: App, seeded: Seeded, tmp_path: Path) -> None:
    result = await export(xapp, tmp_path, Scope(seeded.community, seeded.round_id), parquet=True)
    root, cache = result.directory, tmp_path / "hf-cache"
    header = card_header(root / "README.md")
    configs = {c["config_name"]: c for c in header["configs"]}
    assert set(configs) == {
        "trl",
        "trl-standard",
        "kto",
        "openai",
        "openai-provenance",
        "community-alignment",
        "events",
        "amendments",
    }  # precedents and precedent-checks are written empty (the seeded round recorded none): not declared
    assert "not declared as configs: `precedent-checks`, `precedents`" in (root / "README.md").read_text(encoding="utf-8")
    assert [n for n, c in configs.items() if c.get("default")] == ["trl"]
    assert all(f["path"].endswith(".jsonl") for c in configs.values() for f in c["data_files"])  # one reader for the card
    default = datasets.load_dataset(str(root), cache_dir=str(cache))
    assert isinstance(default, datasets.DatasetDict) and default["train"].num_rows == 9
    assert {"prompt", "chosen", "rejected", "annotator_id"} <= set(default["train"].column_names)
    parquet_header = card_header(root / "parquet" / "README.md")
    assert {c["config_name"] for c in parquet_header["configs"]} == set(configs) - {"openai", "openai-provenance"}
    assert all(f["path"].endswith(".parquet") for c in parquet_header["configs"] for f in c["data_files"])
    assert_configs_load(root, cache, result.manifest)


async def test_a_parquet_only_bundle_loads_and_lists_only_what_was_written(xapp: App, seeded: Seeded, tmp_path: Path) -> None:
    result = await export(xapp, tmp_path, Scope(seeded.community, seeded.round_id), jsonl=False, parquet=True)
    root, cache = result.directory, tmp_path / "hf-cache"
    m = result.manifest
    assert "openai" not in m["formats"] and "polis" not in m["formats"]
    assert set(m["formats_not_written"]) == {"openai", "polis"} and m["encodings"] == ["parquet"]
    assert verify_bundle(root) == []
    assert {f["path"] for f in m["files"]} == {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {
        "manifest.json"
    }
    assert not list(root.glob("*.jsonl")) and not (root / "polis").exists() and not (root / "parquet" / "README.md").exists()
    header = card_header(root / "README.md")
    assert [c["config_name"] for c in header["configs"] if c.get("default")] == ["trl"]
    assert load(root, cache).num_rows == 9
    for c in header["configs"]:
        assert load(root, cache, c["config_name"]).num_rows == next(
            f["rows"] for f in m["files"] if f.get("config") == c["config_name"]
        )
    card = (root / "README.md").read_text(encoding="utf-8")
    assert "`openai` was asked for but not written" in card and "`polis` was asked for but not written" in card
    assert "- `openai`:" not in card


async def test_every_format_as_its_consumer_reads_it(xapp: App, seeded: Seeded, tmp_path: Path) -> None:
    result = await export(xapp, tmp_path, Scope(seeded.community, seeded.round_id), parquet=True)
    root = result.directory
    for name, conversational in (("trl_preference", True), ("trl_preference_standard", False)):
        data = jsonl(root / f"{name}.jsonl")
        assert len(data) == 9
        for row in data:
            check_trl_preference(row, conversational=conversational)
            check_provenance(row)
            assert row["policy"] == "kind" and row["policy_version"] == 1 and row["clause_ids"] == ["c1", "c2", "c3"]
            assert row["round_id"] == seeded.round_id and row["amendment_id"] == 0
    standard = jsonl(root / "trl_preference_standard.jsonl")
    single = next(r for r in standard if r["prompt"].startswith("User: How do I treat a burn?"))
    assert single["prompt"] == "User: How do I treat a burn?\n\nAssistant:"
    multi = next(r for r in standard if "coffee" in r["prompt"])
    assert multi["prompt"] == "User: Is coffee healthy?\n\nAssistant: In moderation.\n\nUser: How much?\n\nAssistant:"
    kto = jsonl(root / "trl_unpaired.jsonl")
    assert len(kto) == 8 and sum(r["label"] for r in kto) == 4
    for row in kto:
        check_trl_unpaired(row)
        check_provenance(row, prefixes=("",))
    openai = jsonl(root / "openai_preference.jsonl")
    side = jsonl(root / "openai_preference.provenance.jsonl")
    assert len(openai) == len(side) == result.manifest["counts"]["openai_lines"]
    for row in openai:
        check_openai_preference(row)
    ca = jsonl(root / "community_alignment.jsonl")
    assert {r["annotator_id"] for r in ca} == {aid(seeded.community, m) for m in ("alice", "bob", "carol", "dave")}
    for row in ca:
        check_community_alignment(row)
    events = jsonl(root / "events.jsonl")
    assert sum(e["type"] == "reaction" for e in events) == 13 and sum(e["type"] == "ballot" for e in events) == 3
    assert [e["seq"] for e in events if e["type"] == "reaction"] == sorted(e["seq"] for e in events if e["type"] == "reaction")
    assert pq.read_table(root / "parquet" / "events.parquet").num_rows == 16


async def test_pairs_come_from_best_picks_and_stances(xapp: App, seeded: Seeded, tmp_path: Path) -> None:
    root = (await export(xapp, tmp_path, Scope(seeded.community), formats=("trl", "kto"))).directory
    s1, s2 = (seeded.candidates[k] for k in sorted(seeded.candidates))
    a, b, c_ = s1
    h = seeded.human
    got = {
        (r["annotator_id"], r["chosen_candidate_id"], r["rejected_candidate_id"], r["basis"])
        for r in jsonl(root / "trl_preference.jsonl")
    }
    alice, bob, carol = (aid(seeded.community, m) for m in ("alice", "bob", "carol"))
    assert got == {
        (alice, a, b, "best"), (alice, a, c_, "best"), (alice, a, h, "best"),  # best pick over each other candidate
        (alice, b, c_, "stance"), (alice, h, c_, "stance"),  # endorsed over objected
        (bob, a, b, "stance"), (bob, s2[1], s2[0], "best"), (bob, s2[1], s2[2], "best"),
        (carol, h, a, "stance"),  # a pass makes no pair; dave's removed endorse makes none
    }  # fmt: skip
    kto = {(r["annotator_id"], r["candidate_id"], r["label"]) for r in jsonl(root / "trl_unpaired.jsonl")}
    dave = aid(seeded.community, "dave")
    assert (dave, s2[0], False) in kto and not any(r[0] == dave and r[1] == a for r in kto)


async def test_polis_bundle_read_back_by_red_dwarf(
    xapp: App, seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = (await export(xapp, tmp_path, Scope(seeded.community, seeded.round_id), formats=("polis",))).directory / "polis"
    polis = read_polis(root)
    assert len(polis["comments.csv"]) == 7 and len(polis["votes.csv"]) == 9  # current stances, passes included
    votes = {(int(r["comment-id"]), int(r["vote"])) for r in polis["votes.csv"]}
    s1 = seeded.candidates[min(seeded.candidates)]
    assert (s1[2], 0) in votes  # carol's pass
    by_id = {int(r["comment-id"]): r for r in polis["comments.csv"]}
    assert by_id[s1[0]]["agrees"] == "1" and by_id[s1[0]]["disagrees"] == "1"  # bob agrees, carol disagrees
    assert by_id[s1[0]]["author-id"] == "0"  # the model
    participants = {r["participant"] for r in polis["participants-votes.csv"]}
    assert int(by_id[seeded.human]["author-id"]) > max(map(int, participants))  # a member's response joins no participant
    assert {r["n-comments"] for r in polis["participants-votes.csv"]} == {"0"}
    with (root / "participant-annotators.csv").open(encoding="utf-8") as f:
        mapping = {r["annotator-id"]: int(r["participant"]) for r in csv.DictReader(f)}
    assert set(mapping) == {aid(seeded.community, m) for m in ("alice", "bob", "carol", "dave")}
    assert sorted(mapping.values()) == [1, 2, 3, 4] and [mapping[k] for k in sorted(mapping)] == [1, 2, 3, 4]

    with warnings.catch_warnings():  # red-dwarf's own models warn on import under pydantic 2.12
        warnings.simplefilter("ignore")
        from reddwarf.data_loader import Loader

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        loader = await asyncio.to_thread(Loader, directory_url=url, is_cache_enabled=False)
    finally:
        server.shutdown()
        server.server_close()
    assert len(loader.comments_data) == 7 and len(loader.votes_data) == 9
    assert {s["statement_id"] for s in loader.comments_data} == set(by_id)
    assert {(v["statement_id"], v["vote"]) for v in loader.votes_data} == votes
    assert not loader.skipped_dup_votes


async def test_checksums_card_and_zip(xapp: App, seeded: Seeded, tmp_path: Path) -> None:
    result = await export(xapp, tmp_path, Scope(seeded.community, policy="kind"))
    root = result.directory
    assert verify_bundle(root) == []
    card = (root / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlicense: cc-by-4.0\n")
    needles = ("## Exclusions", "Round 1: kind v1", "`c3`: Never give medical advice.", "How do I treat a burn?", "fake/model")
    for needle in (*needles, "Published vote totals", "## Known limitations", "CC-BY-4.0"):
        assert needle in card, needle
    z = zip_bundle(root, tmp_path / "bundle.zip")
    with zipfile.ZipFile(z) as zf:
        zf.extractall(tmp_path / "unzipped")
    assert verify_bundle(tmp_path / "unzipped" / "bundle") == []
    with (root / "trl_preference.jsonl").open("a", encoding="utf-8") as f:
        f.write("{}\n")
    (root / "stray.txt").write_text("x")
    problems = verify_bundle(root)
    assert any("trl_preference.jsonl" in p for p in problems) and any("stray.txt" in p for p in problems)


async def test_annotator_ids_are_keyed_and_stable(xapp: App, seeded: Seeded, tmp_path: Path) -> None:
    scope = Scope(seeded.community, seeded.round_id)
    one = await export(xapp, tmp_path, scope, "one", formats=("events",))
    two = await export(xapp, tmp_path, scope, "two", formats=("events",))
    other = await export(xapp, tmp_path, scope, "other", formats=("events",), secret="another-deployment-secret-xyz")
    ids = [{e["annotator_id"] for e in jsonl(r.directory / "events.jsonl")} for r in (one, two, other)]
    assert ids[0] == ids[1] == {aid(seeded.community, m) for m in ("alice", "bob", "carol", "dave")}
    assert not ids[0] & ids[2]
    for r in (one, two, other):
        text = "".join(p.read_text(encoding="utf-8") for p in r.directory.rglob("*") if p.is_file())
        for m in ("alice", "bob", "carol", "dave"):
            assert f'"{m}"' not in text and f",{m}," not in text


async def test_refuses_without_the_secret(xapp: App, seeded: Seeded, tmp_path: Path) -> None:
    for secret in (None, "", "short"):
        with pytest.raises(CommandError) as e:
            await export(xapp, tmp_path / "out", Scope(seeded.community), secret=secret)
        assert "POLICYBOT_EXPORT_SECRET" in e.value.message
    assert not (tmp_path / "out").exists()


async def test_one_communitys_data_only(xapp: App, tmp_path: Path, clock: FixedClock) -> None:
    first = await seed_round(xapp, "guild-1", prompt="guild-1 prompt about burns")
    second = await seed_round(xapp, "guild-2", prompt="guild-2 prompt about burns")
    with pytest.raises(CommandError, match="no round #1 in this community"):
        await export(xapp, tmp_path, Scope("guild-2", first.round_id))
    result = await export(xapp, tmp_path, Scope("guild-2"), parquet=True)
    assert result.manifest["scope"]["rounds"] == [second.round_id]
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in result.directory.rglob("*") if p.is_file())
    assert "guild-2 prompt" in text and "guild-1" not in text
    ids = {e["annotator_id"] for e in jsonl(result.directory / "events.jsonl")}
    assert ids == {aid("guild-2", m) for m in ("alice", "bob", "carol", "dave")}
    assert not ids & {aid("guild-1", m) for m in ("alice", "bob", "carol", "dave")}


async def test_chunked_streaming_gives_the_same_rows(
    xapp: App, seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = await export(xapp, tmp_path, Scope(seeded.community), "whole", formats=("trl", "polis", "community-alignment"))
    monkeypatch.setattr(derive_module, "CHUNK_MEMBERS", 1)
    monkeypatch.setattr(derive_module, "YIELD_ROWS", 2)
    chunked = await export(xapp, tmp_path, Scope(seeded.community), "chunked", formats=("trl", "polis", "community-alignment"))
    for f in ("trl_preference.jsonl", "polis/votes.csv", "polis/participants-votes.csv", "community_alignment.jsonl"):
        assert (whole.directory / f).read_bytes() == (chunked.directory / f).read_bytes(), f
    annotators = [r["annotator_id"] for r in jsonl(whole.directory / "community_alignment.jsonl")]
    assert annotators == sorted(annotators)  # rows follow pseudonym order, never platform-id order


async def test_opinion_groups_reach_polis_and_the_card(xapp: App, seeded: Seeded, tmp_path: Path) -> None:
    calls: list[int] = []

    async def groups(session: object, round_id: int) -> dict[str, int]:
        calls.append(round_id)
        return {"alice": 1, "bob": 2, "carol": 2, "outsider": 1}

    svc = xapp.engine.services
    request = ExportRequest(Scope(seeded.community, seeded.round_id), formats=("polis",))
    result = await export_bundle(svc.uow, request, tmp_path / "g", secret=SECRET, now=svc.now(), opinion_groups=groups)
    assert calls == [seeded.round_id]
    polis = read_polis(result.directory / "polis")
    with (result.directory / "polis" / "participant-annotators.csv").open(encoding="utf-8") as f:
        pid = {r["annotator-id"]: r["participant"] for r in csv.DictReader(f)}
    group_of = {r["participant"]: r["group-id"] for r in polis["participants-votes.csv"]}
    assert group_of[pid[aid(seeded.community, "alice")]] == "1" and group_of[pid[aid(seeded.community, "bob")]] == "2"
    assert group_of[pid[aid(seeded.community, "dave")]] == ""  # in no group
    card = (result.directory / "README.md").read_text(encoding="utf-8")
    assert "Opinion groups (exported members): group 1: 1, group 2: 2" in card  # the outsider is not an exported member
    assert {r["key"]: r["value"] for r in polis["summary.csv"]}["groups"] == "2"
