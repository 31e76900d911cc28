"""Loading the real Polis conversations in shared/reference/polis (votes.json: agree = +1 in
these exports, checked against math-pca2.json's group-votes in test_polis_reference), and writing
them out as Polis writes a CSV export (timestamps in whole seconds)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _reference_root() -> Path:
    """shared/ lies beside the checkout (as in CI); /work/shared on the project's machines."""
    if "POLICYBOT_POLIS_REFERENCE" in os.environ:
        return Path(os.environ["POLICYBOT_POLIS_REFERENCE"])
    beside = Path(__file__).resolve().parents[3] / "shared" / "reference" / "polis"
    return beside if beside.is_dir() else Path("/work/shared/reference/polis")


ROOT = _reference_root()
CONVERSATIONS = ("below-100-ptpts", "150ptpt-3gp-no-strict-no-meta")


def second(vote: dict[str, Any]) -> int:
    """The vote's time in whole seconds, as Polis's export writes it (votes.json holds milliseconds)."""
    return int(float(vote["modified"])) // 1000


def _get(row: dict[str, Any], *keys: str) -> Any:
    """The two conversations name their fields differently (pid / participant_id, tid / statement_id, mod / moderated)."""
    return next(row[k] for k in keys if k in row)


@dataclass(frozen=True)
class Conversation:
    name: str
    votes: list[dict[str, Any]]
    math: dict[str, Any]
    comments: list[dict[str, Any]]

    def write_csv_export(self, directory: Path) -> Path:
        """comments.csv and votes.csv as Polis's export writes them (agree = 1, timestamps in seconds,
        votes ordered by comment then participant; a meta statement written as moderated out)."""
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "comments.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "datetime", "comment-id", "author-id", "agrees", "disagrees", "moderated", "comment-body"])
            for c in self.comments:
                mod = -1 if c.get("is_meta") else _get(c, "mod", "moderated")
                tid, author = _get(c, "tid", "statement_id"), _get(c, "pid", "participant_id")
                w.writerow(["", "", tid, author, c["agree_count"], c["disagree_count"], mod, c["txt"]])
        with (directory / "votes.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "datetime", "comment-id", "voter-id", "vote"])
            rows = [
                (int(_get(v, "tid", "statement_id")), int(_get(v, "pid", "participant_id")), second(v), v["vote"])
                for v in self.votes
            ]
            for tid, pid, at, vote in sorted(rows, key=lambda r: r[:3]):
                w.writerow([at, "", tid, pid, vote])
        return directory

    def polis_groups(self) -> dict[str, int]:
        """participant → Polis's group id (group-clusters hold base-cluster ids)."""
        base = dict(zip(self.math["base-clusters"]["id"], self.math["base-clusters"]["members"], strict=True))
        return {str(p): g["id"] for g in self.math["group-clusters"] for b in g["members"] for p in base[b]}


def load(name: str) -> Conversation:
    folder = ROOT / name
    votes = json.loads((folder / "votes.json").read_text())
    comments = json.loads((folder / "comments.json").read_text())
    return Conversation(name, votes, json.loads((folder / "math-pca2.json").read_text()), comments)
