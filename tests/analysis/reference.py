"""Loading the real Polis conversations in shared/reference/polis (votes.json: agree = +1 in
these exports, checked against math-pca2.json's group-votes in test_polis_reference)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.analysis.matrix import RatingsMatrix, ratings_matrix
from bot.domain.model import Stance


def _reference_root() -> Path:
    """shared/ lies beside the checkout (as in CI); /work/shared on the project's machines."""
    if "POLICYBOT_POLIS_REFERENCE" in os.environ:
        return Path(os.environ["POLICYBOT_POLIS_REFERENCE"])
    beside = Path(__file__).resolve().parents[3] / "shared" / "reference" / "polis"
    return beside if beside.is_dir() else Path("/work/shared/reference/polis")


ROOT = _reference_root()
CONVERSATIONS = ("below-100-ptpts", "150ptpt-3gp-no-strict-no-meta")
VOTE = {1: Stance.ENDORSE, -1: Stance.OBJECT, 0: Stance.PASS}


@dataclass(frozen=True)
class Conversation:
    name: str
    votes: list[dict[str, Any]]
    math: dict[str, Any]

    def matrix(self) -> RatingsMatrix:
        """Every vote (latest per participant and statement), moderated-out statements dropped,
        rows: Polis's in-conv participants in order of their first vote."""
        latest: dict[tuple[str, int], tuple[float, int]] = {}
        arrival: dict[str, float] = {}
        for v in self.votes:
            pid = v.get("pid", v.get("participant_id"))
            tid = v.get("tid", v.get("statement_id"))
            key = (str(pid), int(str(tid)))
            at = float(v.get("modified") or 0)
            arrival[str(pid)] = min(arrival.get(str(pid), at), at)
            if key not in latest or at >= latest[key][0]:
                latest[key] = (at, int(v["vote"]))
        out = set(self.math["mod-out"]) | set(self.math["meta-tids"])
        tids = [t for t in self.math["tids"] if t not in out]
        in_conv = {str(p) for p in self.math["in-conv"]}
        stances = {k: VOTE[val] for k, (_, val) in latest.items() if k[0] in in_conv}
        order = sorted(in_conv, key=lambda p: (arrival.get(p, 0.0), int(p)))
        return ratings_matrix(stances, tids, order)

    def polis_groups(self) -> dict[str, int]:
        """participant → Polis's group id (group-clusters hold base-cluster ids)."""
        base = dict(zip(self.math["base-clusters"]["id"], self.math["base-clusters"]["members"], strict=True))
        return {str(p): g["id"] for g in self.math["group-clusters"] for b in g["members"] for p in base[b]}


def load(name: str) -> Conversation:
    folder = ROOT / name
    votes = json.loads((folder / "votes.json").read_text())
    return Conversation(name, votes, json.loads((folder / "math-pca2.json").read_text()))
