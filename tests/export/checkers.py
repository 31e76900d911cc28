"""Strict checkers of the documented dataset formats, used beside the real loaders (datasets, TRL
where it is installed, red-dwarf): "Dataset formats and types" in the TRL documentation — preference
(prompt / chosen / rejected), standard (strings: the prompt ends with the cue for the answer, every
completion starts with a space) or conversational (lists of {role, content} messages), and unpaired
preference (prompt / completion / label); the OpenAI preference fine-tuning format against its
documented fields; Community Alignment rows against the published dataset's columns and types."""

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
        assert row["prompt"].endswith("\n\nAssistant:") and row["prompt"].startswith(("User: ", "System: ")), row["prompt"]
        for key in ("chosen", "rejected"):
            assert row[key].startswith(" ") and not row[key].startswith("  "), row[key]
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
    roles = [m["role"] for m in row["input"]["messages"]]
    assert "system" not in roles[1:], roles  # a system message only ever comes first
    assert row["input"]["tools"] == [] and row["input"]["parallel_tool_calls"] is True
    for key in ("preferred_output", "non_preferred_output"):
        check_messages(row[key])
        assert [m["role"] for m in row[key]] == ["assistant"]


# The published Community Alignment dataset's columns, in order, and their value types.
CA_TURNS = ("first", "second", "third", "fourth")
CA_PUBLISHED: list[tuple[str, type]] = [
    ("conversation_id", int),
    ("annotator_id", str),
    ("assigned_lang", str),
    ("is_pregenerated_first_prompt", bool),
]
for _turn in CA_TURNS:
    CA_PUBLISHED += [(f"{_turn}_turn_prompt", str)]
    CA_PUBLISHED += [(f"{_turn}_turn_response_{x}", str) for x in "abcd"]
    CA_PUBLISHED += [(f"{_turn}_turn_preferred_response", str), (f"{_turn}_turn_feedback", str)]
CA_PUBLISHED += [(f"annotator_{a}", str) for a in ("age", "gender", "education_level", "political", "ethnicity", "country")]


def check_community_alignment(row: dict[str, Any]) -> None:
    """The published columns first, in order, each null or of its type; the project's after them."""
    names = list(row)
    assert names[: len(CA_PUBLISHED)] == [n for n, _ in CA_PUBLISHED], names
    assert not any(
        n.startswith(CA_TURNS) or n.startswith("annotator_") for n in names[len(CA_PUBLISHED) :] if n != "annotator_language"
    )
    for name, kind in CA_PUBLISHED:
        value = row[name]
        assert value is None or type(value) is kind, (name, value)
    for turn in CA_TURNS:
        preferred = row[f"{turn}_turn_preferred_response"]
        assert preferred in (None, "response_a", "response_b", "response_c", "response_d"), preferred
        if preferred is not None:
            assert row[f"{turn}_turn_{preferred}"], (turn, preferred)
    assert row["conversation_id"] is not None and row["annotator_id"] and row["first_turn_prompt"] is not None


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
