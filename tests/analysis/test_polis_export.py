"""`policybot analyse polis DIR`: a Polis CSV export read as Polis writes it (and as this project's
Polis bundle is documented), the summary, --json in its exact format, --chart, and a clear refusal
with exit 2 for a directory that is not an export."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adapters.cli import app
from bot.analysis.polis_export import NotAPolisExport, read_export
from tests.analysis.synthetic import planted

ONE = "comment-id,moderated\n1,1\n"  # a comments.csv with one comment
COMMENTS = ("timestamp", "datetime", "comment-id", "author-id", "agrees", "disagrees", "moderated", "comment-body")
VOTES = ("timestamp", "datetime", "comment-id", "voter-id", "vote")


def write(path: Path, header: tuple[str, ...] | list[str], rows: Sequence[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def planted_export(directory: Path, *, moderated_out: tuple[int, ...] = ()) -> dict[str, int]:
    """Two planted groups of 12 over 10 comments, one vote a second; returns voter → planted group."""
    m, truth = planted((12, 12), 10, density=1.0, noise=0.0, seed=3)
    write(
        directory / "comments.csv",
        COMMENTS,
        [[100 + c, "", c, 0, 0, 0, -1 if c in moderated_out else 1, f"Statement number {c}"] for c in range(10)],
    )
    rows: list[list[object]] = []
    second = 1_700_000_000
    for i in range(len(m.members)):
        for j in range(10):
            second += 1
            rows.append([second, "", j, i, int(m.votes[i, j])])
    write(directory / "votes.csv", VOTES, rows)
    return {str(i): truth[name] for i, name in enumerate(m.members)}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["analyse", "polis", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_has_exactly_the_documented_format(tmp_path: Path) -> None:
    truth = planted_export(tmp_path / "conv")
    out, chart = tmp_path / "a.json", tmp_path / "map.png"
    code, stdout, _ = run(str(tmp_path / "conv"), "--json", str(out), "--chart", str(chart))
    assert code == 0, stdout
    data = json.loads(out.read_text())
    assert set(data) == {"k", "groups", "group_aware_consensus", "consensus", "repness"}
    assert data["k"] == 2 and isinstance(data["k"], int)
    assert set(data["groups"]) == set(truth) and set(data["groups"].values()) == {0, 1}
    assert len({(truth[p], g) for p, g in data["groups"].items()}) == 2  # the planted groups, exactly
    assert set(data["group_aware_consensus"]) == {str(c) for c in range(10)}
    assert all(isinstance(v, float) and 0 < v < 1 for v in data["group_aware_consensus"].values())
    assert set(data["consensus"]) == {"agree", "disagree"}
    assert all(isinstance(c, int) for cs in data["consensus"].values() for c in cs)
    assert set(data["repness"]) == {"0", "1"}
    assert all(1 <= len(r) <= 5 and all(isinstance(c, int) for c in r) for r in data["repness"].values())
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "2 opinion groups over 24 participants" in stdout and "Statement number" in stdout


def test_moderated_out_comments_are_counted_but_never_shown(tmp_path: Path) -> None:
    planted_export(tmp_path / "conv", moderated_out=(0, 1))
    out = tmp_path / "a.json"
    code, stdout, _ = run(str(tmp_path / "conv"), "--json", str(out))
    assert code == 0, stdout
    data = json.loads(out.read_text())
    shown = {c for cs in data["consensus"].values() for c in cs} | {c for r in data["repness"].values() for c in r}
    assert shown.isdisjoint({0, 1}) and shown
    assert {"0", "1"} <= set(data["group_aware_consensus"])  # Polis's consensus map covers every statement
    assert "10 statements with votes (2 moderated out)" in stdout


def test_latest_vote_wins(tmp_path: Path) -> None:
    write(tmp_path / "comments.csv", COMMENTS, [["", "", 1, 0, 0, 0, 1, "one"], ["", "", 2, 0, 0, 0, 1, "two"]])
    write(
        tmp_path / "votes.csv",
        VOTES,
        [
            [20, "", 1, 7, -1],  # later than the next line: this one counts
            [10, "", 1, 7, 1],
            [15, "", 2, 7, 1],
            [15, "", 2, 7, 0],  # the same second: the later line counts
        ],
    )
    e = read_export(tmp_path)
    assert e.matrix.members == ("7",) and e.matrix.votes.tolist() == [[-1.0, 0.0]]


def test_participants_votes_matrix_when_votes_csv_is_missing_or_empty(tmp_path: Path) -> None:
    write(tmp_path / "comments.csv", COMMENTS, [["", "", c, 0, 0, 0, 1 if c else -1, f"c{c}"] for c in (0, 1, 2)])
    header = ["participant", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree", "0", "1", "2"]
    rows: list[list[object]] = [[5, 0, 0, 2, 1, 1, 1, -1, ""], [6, "", 0, 1, 0, 0, "", "", 0], [9, "", 0, 0, 0, 0, "", "", ""]]
    write(tmp_path / "participants-votes.csv", header, rows)
    (tmp_path / "votes.csv").write_text("timestamp,datetime,comment-id,voter-id,vote\n")
    for _ in ("empty", "missing"):
        e = read_export(tmp_path)
        assert e.source == "participants-votes.csv" and e.moderated_out == frozenset({0})
        assert e.matrix.members == ("5", "6") and e.matrix.candidates == (0, 1, 2)  # 9 never voted
        np.testing.assert_array_equal(e.matrix.votes, [[1, -1, np.nan], [np.nan, np.nan, 0]])
        (tmp_path / "votes.csv").unlink(missing_ok=True)


def test_this_projects_polis_bundle_as_documented(tmp_path: Path) -> None:
    """The polis/ bundle of `policybot export` (ALGORITHMS.md): extra comment columns (is-meta among
    them), votes whose time is unknown left blank, string-free integer ids, summary.csv beside."""
    extra = ("is-seed", "is-meta", "round-id", "scenario-id", "amendment-id", "policy", "policy-version")
    m, _ = planted((10, 10), 8, density=1.0, noise=0.0, seed=5)
    meta = ["false"] * 7 + ["true"]
    comments = [["", "", 10 + j, 0, 0, 0, 1, f"candidate {j}", "true", meta[j], 1, 1, "", "p", 1] for j in range(8)]
    write(tmp_path / "comments.csv", [*COMMENTS, *extra], comments)
    votes = [["" if i == 3 else 1_800_000_000 + i, "", 10 + j, i + 1, int(m.votes[i, j])] for i in range(20) for j in range(8)]
    write(tmp_path / "votes.csv", VOTES, votes)
    write(tmp_path / "summary.csv", ("key", "value"), [["topic", "policybot: p v1"]])
    e = read_export(tmp_path)
    assert e.moderated_out == frozenset({17}) and e.history == ()  # a vote without a time: no replay
    assert e.matrix.members[:3] == ("1", "2", "3") and len(e.matrix.candidates) == 8
    code, stdout, _ = run(str(tmp_path))
    assert code == 0 and "2 opinion groups over 20 participants" in stdout


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "has no comments.csv"),
        ({"comments.csv": "id,text\n1,hello\n"}, "comments.csv has no comment-id, moderated column"),
        ({"comments.csv": ONE}, "has no votes"),
        ({"comments.csv": ONE, "votes.csv": "voter,vote\n1,1\n"}, "votes.csv has no comment-id, voter-id column"),
        ({"comments.csv": ONE, "votes.csv": "comment-id,voter-id,vote\n1,1,yes\n"}, "line 2: vote 'yes'"),
        ({"comments.csv": ONE, "votes.csv": "comment-id,voter-id,vote\n1,1,2\n"}, "vote 2 is not 1"),
        ({"comments.csv": "comment-id,moderated\nabc,1\n"}, "comment-id 'abc' is not a number"),
        ({"comments.csv": b"comment-id,moderated\n\xff\xfe,1\n"}, "is not UTF-8"),
    ],
)
def test_a_directory_that_is_not_an_export_gets_a_clear_message_and_exit_2(
    tmp_path: Path, files: dict[str, str | bytes], message: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "never.json"
    code, stdout, stderr = run(str(tmp_path), "--json", str(out))
    assert code == 2, stdout
    assert stderr.startswith("Not a Polis export: ") and message in stderr, stderr
    assert "Traceback" not in stderr + stdout and not out.exists()
    with pytest.raises(NotAPolisExport, match=message.split(":")[0].split("'")[0].strip()):
        read_export(tmp_path)


def test_a_missing_directory_exits_2(tmp_path: Path) -> None:
    code, _, stderr = run(str(tmp_path / "nowhere"))
    assert code == 2 and "is not a directory" in stderr


def test_an_unwritable_output_is_reported(tmp_path: Path) -> None:
    planted_export(tmp_path / "conv")
    code, _, stderr = run(str(tmp_path / "conv"), "--json", str(tmp_path / "no" / "such" / "dir.json"))
    assert code == 1 and "Could not write" in stderr
