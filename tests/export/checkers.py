"""Strict checkers of the documented dataset formats, used beside the real loaders.

TRL (trl 1.16) could not be installed here without torch (it requires accelerate, which requires
torch), so its documented dataset formats are checked strictly instead: "Dataset formats and types"
in the TRL documentation — preference (prompt / chosen / rejected), standard (strings) or
conversational (lists of {role, content} messages), and unpaired preference (prompt / completion /
label). The OpenAI preference fine-tuning format is checked against its documented fields."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

ROLES = {"system", "user", "assistant"}


def check_messages(value: Any, *, last: str | None = None) -> None:
    assert isinstance(value, list) and value, value
    for m in value:
        assert isinstance(m, dict) and set(m) == {"role", "content"}, m
        assert m["role"] in ROLES and isinstance(m["content"], str) and m["content"], m
    if last is not None:
        assert value[-1]["role"] == last, value


def check_trl_preference(row: dict[str, Any], *, conversational: bool) -> None:
    for key in ("prompt", "chosen", "rejected"):
        assert key in row, (key, row)
    if conversational:
        check_messages(row["prompt"], last="user")
        for key in ("chosen", "rejected"):
            check_messages(row[key])
            assert [m["role"] for m in row[key]] == ["assistant"]
    else:
        for key in ("prompt", "chosen", "rejected"):
            assert isinstance(row[key], str) and row[key], (key, row)
    assert row["chosen"] != row["rejected"]


def check_trl_unpaired(row: dict[str, Any]) -> None:
    assert {"prompt", "completion", "label"} <= set(row)
    check_messages(row["prompt"], last="user")
    check_messages(row["completion"])
    assert [m["role"] for m in row["completion"]] == ["assistant"]
    assert isinstance(row["label"], bool)


def check_openai_preference(row: dict[str, Any]) -> None:
    assert set(row) == {"input", "preferred_output", "non_preferred_output"}, set(row)
    assert set(row["input"]) == {"messages", "tools", "parallel_tool_calls"}
    check_messages(row["input"]["messages"], last="user")
    assert row["input"]["tools"] == [] and row["input"]["parallel_tool_calls"] is True
    for key in ("preferred_output", "non_preferred_output"):
        check_messages(row[key])
        assert [m["role"] for m in row[key]] == ["assistant"]


PROVENANCE = ("annotator_id", "round_id", "policy", "policy_version", "clause_ids", "scenario_id", "amendment_id")


def check_provenance(row: dict[str, Any], *, prefixes: tuple[str, ...] = ("chosen_", "rejected_")) -> None:
    for key in PROVENANCE:
        assert key in row, (key, row)
    assert row["annotator_id"].startswith("a") and len(row["annotator_id"]) == 21
    assert isinstance(row["clause_ids"], list) and row["clause_ids"]
    for p in prefixes:
        assert (
            isinstance(row[f"{p}candidate_id"], int)
            and isinstance(row[f"{p}model"], str)
            and isinstance(row[f"{p}sampling"], str)
        )


POLIS_COLUMNS = {
    "comments.csv": ["timestamp", "datetime", "comment-id", "author-id", "agrees", "disagrees", "moderated", "comment-body"],
    "votes.csv": ["timestamp", "datetime", "comment-id", "voter-id", "vote"],
    "participants-votes.csv": ["participant", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree"],
}


def read_polis(directory: Path) -> dict[str, list[dict[str, str]]]:
    """Read the Polis CSV files strictly: the documented columns first, in order, with valid values."""
    out: dict[str, list[dict[str, str]]] = {}
    for name, columns in POLIS_COLUMNS.items():
        with (directory / name).open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames is not None and list(reader.fieldnames[: len(columns)]) == columns, (name, reader.fieldnames)
            rows = list(reader)
        out[name] = rows
    comment_ids = {int(r["comment-id"]) for r in out["comments.csv"]}
    for r in out["comments.csv"]:
        assert int(r["timestamp"]) > 0 and int(r["author-id"]) >= 0 and int(r["moderated"]) in (-1, 0, 1) and r["comment-body"]
        assert int(r["agrees"]) >= 0 and int(r["disagrees"]) >= 0
    for r in out["votes.csv"]:
        assert int(r["vote"]) in (-1, 0, 1) and int(r["comment-id"]) in comment_ids and int(r["voter-id"]) >= 1
    header = None
    with (directory / "participants-votes.csv").open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert {int(x) for x in header[6:]} == comment_ids
    for r in out["participants-votes.csv"]:
        cells = [r[h] for h in header[6:] if r[h] != ""]
        assert int(r["n-votes"]) == len(cells)
        assert int(r["n-agree"]) == cells.count("1") and int(r["n-disagree"]) == cells.count("-1")
    with (directory / "summary.csv").open(newline="", encoding="utf-8") as f:
        out["summary.csv"] = list(csv.DictReader(f))
    return out
