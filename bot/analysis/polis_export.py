"""A Polis CSV export read as Polis writes it, and Polis's analysis of it (`policybot analyse polis`).

The export (Polis's own, or this project's polis/ bundle):
- comments.csv: timestamp, datetime, comment-id, author-id, agrees, disagrees, moderated (−1:
  moderated out), comment-body; an is-meta column, where present, marks meta statements, which
  Polis also leaves out.
- votes.csv: timestamp (seconds), datetime, comment-id, voter-id, vote (1 agree, −1 disagree, 0 pass);
  where a voter voted twice on a comment the latest counts (by timestamp, then by line).
- participants-votes.csv (read when votes.csv is missing or empty): participant, group-id,
  n-comments, n-votes, n-agree, n-disagree, then one column per comment id.

The analysis is one fresh Polis recomputation (bot.analysis.polis, with Polis's rules and none of
the bot's floors): participants in the order Polis's vote matrix grows (by their first vote; within
one second, as Polis reads a batch, by comment id then participant id), statements likewise, and who
is in the conversation replayed along the votes' timestamps (Polis recomputes once a second, and
once in, a participant stays in). Without timestamps (participants-votes.csv, or a vote without
one), rows keep the file's order and only the final vote counts decide who is in."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bot.analysis import polis
from bot.analysis.matrix import RatingsMatrix
from bot.analysis.state import PolisState

WHAT = "a Polis CSV export has comments.csv and votes.csv (or participants-votes.csv)"
PARTICIPANT_COLUMNS = ("participant", "xid", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree")
TOP = 5  # consensus statements per direction and representative statements per group, as Polis lists them
VOTES = {1: 1.0, -1: -1.0, 0: 0.0}


class NotAPolisExport(ValueError):
    """The directory is not a Polis CSV export; the message says what is wrong."""


@dataclass(frozen=True)
class PolisExport:
    matrix: RatingsMatrix  # every participant × every statement with a vote (latest vote each)
    moderated_out: frozenset[int]
    texts: dict[int, str]
    history: tuple[tuple[str, int, int], ...] = ()  # votes (participant, comment, second) in time order
    source: str = "votes.csv"

    @property
    def votes(self) -> int:
        return int(self.matrix.voted.sum())


@dataclass(frozen=True)
class _Vote:
    line: int
    at: float | None
    comment: int
    voter: str
    vote: float


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise NotAPolisExport(f"{path.name} has no {', '.join(missing)} column ({WHAT})")
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError as e:
        raise NotAPolisExport(f"{path.name} is not UTF-8 text: {e.reason}") from None
    except csv.Error as e:
        raise NotAPolisExport(f"{path.name} is not a CSV file: {e}") from None


def _int(value: str | None, what: str, path: str, line: int) -> int:
    text = (value or "").strip()
    try:
        number = float(text)
    except ValueError:
        raise NotAPolisExport(f"{path} line {line}: {what} {text!r} is not a number") from None
    if not number.is_integer():
        raise NotAPolisExport(f"{path} line {line}: {what} {text!r} is not a whole number")
    return int(number)


def _vote(value: str | None, path: str, line: int) -> float:
    v = _int(value, "vote", path, line)
    if v not in VOTES:
        raise NotAPolisExport(f"{path} line {line}: vote {v} is not 1 (agree), -1 (disagree) or 0 (pass)")
    return VOTES[v]


def _comments(directory: Path) -> tuple[dict[int, str], frozenset[int]]:
    path = directory / "comments.csv"
    if not path.is_file():
        raise NotAPolisExport(f"{directory} has no comments.csv ({WHAT})")
    texts: dict[int, str] = {}
    out: set[int] = set()
    for line, row in _rows(path, ("comment-id", "moderated")):
        cid = _int(row["comment-id"], "comment-id", path.name, line)
        texts[cid] = row.get("comment-body") or ""
        meta = (row.get("is-meta") or "").strip().lower() in ("true", "1", "t", "yes")
        if _int(row["moderated"], "moderated", path.name, line) == -1 or meta:
            out.add(cid)
    return texts, frozenset(out)


def _read_votes(path: Path) -> list[_Vote]:
    votes: list[_Vote] = []
    for line, row in _rows(path, ("comment-id", "voter-id", "vote")):
        voter = (row["voter-id"] or "").strip()
        if not voter:
            raise NotAPolisExport(f"{path.name} line {line}: the voter-id is empty")
        stamp = (row.get("timestamp") or "").strip()
        at = float(_int(stamp, "timestamp", path.name, line)) if stamp else None
        comment = _int(row["comment-id"], "comment-id", path.name, line)
        votes.append(_Vote(line, at, comment, voter, _vote(row["vote"], path.name, line)))
    return votes


def _id_key(pid: str) -> tuple[int, int, str]:
    return (0, int(pid), "") if pid.lstrip("-").isdigit() else (1, 0, pid)


def _from_votes(votes: list[_Vote], texts: dict[int, str], moderated_out: frozenset[int]) -> PolisExport:
    timed = all(v.at is not None for v in votes)
    # Polis's order: by time, and within one second by comment id then participant id
    order = sorted(votes, key=lambda v: (v.at or 0.0, v.comment, _id_key(v.voter), v.line)) if timed else votes
    latest: dict[tuple[str, int], float] = {}
    for v in sorted(votes, key=lambda v: (v.at or 0.0, v.line)) if timed else votes:
        latest[(v.voter, v.comment)] = v.vote
    voters = list(dict.fromkeys(v.voter for v in order))
    comments = list(dict.fromkeys(v.comment for v in order))
    row = {p: i for i, p in enumerate(voters)}
    col = {c: j for j, c in enumerate(comments)}
    matrix = np.full((len(voters), len(comments)), np.nan)
    for (p, c), value in latest.items():
        matrix[row[p], col[c]] = value
    history = tuple((v.voter, v.comment, int(v.at or 0)) for v in order) if timed else ()
    return PolisExport(RatingsMatrix(tuple(voters), tuple(comments), matrix), moderated_out, texts, history, "votes.csv")


def _from_matrix(path: Path, texts: dict[int, str], moderated_out: frozenset[int]) -> PolisExport:
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f), [])
    if "participant" not in header:
        raise NotAPolisExport(f"{path.name} has no participant column ({WHAT})")
    columns = [(h, _int(h, "comment-id column", path.name, 1)) for h in header if h not in PARTICIPANT_COLUMNS]
    voters: list[str] = []
    rows: list[list[float]] = []
    for line, row in _rows(path, ("participant",)):
        cells = [np.nan if not (row.get(h) or "").strip() else _vote(row[h], path.name, line) for h, _ in columns]
        if any(not np.isnan(x) for x in cells):
            voters.append((row["participant"] or "").strip())
            rows.append(cells)
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    m = RatingsMatrix(tuple(voters), tuple(c for _, c in columns), matrix)
    keep = polis.statement_columns(m)
    m = RatingsMatrix(m.members, tuple(c for c, k in zip(m.candidates, keep, strict=True) if k), m.votes[:, keep])
    return PolisExport(m, moderated_out, texts, (), path.name)


def read_export(directory: Path) -> PolisExport:
    """The export in DIR, or NotAPolisExport saying why it is not one."""
    if not directory.is_dir():
        raise NotAPolisExport(f"{directory} is not a directory ({WHAT})")
    texts, moderated_out = _comments(directory)
    votes_path = directory / "votes.csv"
    votes = _read_votes(votes_path) if votes_path.is_file() and votes_path.stat().st_size else []
    if votes:
        export = _from_votes(votes, texts, moderated_out)
    elif (directory / "participants-votes.csv").is_file():
        export = _from_matrix(directory / "participants-votes.csv", texts, moderated_out)
    else:
        raise NotAPolisExport(f"{directory} has no votes: votes.csv is missing or empty and there is no participants-votes.csv")
    if export.votes == 0:
        raise NotAPolisExport(f"{directory} has no votes in {export.source}")
    return export


# ---------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class PolisReport:
    export: PolisExport
    groups: polis.Groups
    gac: dict[int, float]  # comment id → group-aware consensus (empty without groups)
    consensus: dict[str, list[polis.Consensus]]  # "agree" / "disagree" → Polis's top 5
    representative: list[list[polis.Repness]] = field(default_factory=list)  # per group

    def as_json(self) -> dict[str, Any]:
        g = self.groups
        return {
            "k": g.k if g.ok else 0,
            "groups": {p: int(label) for p, label in zip(g.members, g.labels, strict=True)} if g.ok else {},
            "group_aware_consensus": {str(c): v for c, v in self.gac.items()},
            "consensus": {d: [c.candidate for c in cs] for d, cs in self.consensus.items()},
            "repness": {str(i): [r.candidate for r in reps] for i, reps in enumerate(self.representative)},
        }


def analyse_export(export: PolisExport) -> PolisReport:
    with threadpool_limits(limits=1, user_api="blas"):  # as the bot's analysis (bot.analysis.pipeline)
        return _analyse_export(export)


def _analyse_export(export: PolisExport) -> PolisReport:
    m = export.matrix
    n_statements = int(polis.statement_columns(m).sum())
    in_conv = polis.in_conversation_history(export.history, n_statements=n_statements)
    start = PolisState(in_conv=tuple(p for p in m.members if p in in_conv))
    groups = polis.opinion_groups(m, moderated_out=export.moderated_out, state=start, rules=polis.POLIS_RULES)
    found = polis.consensus(polis.overall_votes(m), m.candidates, excluded=export.moderated_out)
    consensus = {d: [c for c in found if c.direction == d][:TOP] for d in ("agree", "disagree")}
    if not groups.ok:
        return PolisReport(export, groups, {}, consensus)
    gv = polis.group_votes(m, groups)
    gac = {c: float(v) for c, v in zip(m.candidates, polis.group_aware_consensus(gv), strict=True)}
    reps = polis.representative(gv, m.candidates, excluded=export.moderated_out, limit=TOP)
    return PolisReport(export, groups, gac, consensus, reps)


def _quote(text: str, limit: int = 100) -> str:
    one_line = " ".join(text.split())
    return f'"{one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"}"' if one_line else "(no text)"


def summary_text(report: PolisReport, where: str) -> str:
    """What the analysis found, for a terminal: groups and sizes, consensus, what represents each group."""
    e, g = report.export, report.groups
    lines = [
        f"Polis export {where} ({e.source}): {len(e.matrix.members)} participants, {len(e.matrix.candidates)} statements "
        f"with votes ({len(e.moderated_out & set(e.matrix.candidates))} moderated out), {e.votes} votes."
    ]
    if g.ok:
        sizes = ", ".join(f"group {i}: {n}" for i, n in enumerate(g.sizes()))
        lines.append(f"{g.k} opinion groups over {len(g.members)} participants in the conversation ({sizes}).")
    else:
        lines.append(f"No opinion groups: {g.reason}.")
    for direction, word in (("agree", "agreed"), ("disagree", "disagreed")):
        found = report.consensus[direction]
        lines.append(f"Consensus, {word} across the conversation:" + ("" if found else " none"))
        lines += [f"  #{c.candidate} {_quote(e.texts.get(c.candidate, ''))}: {c.n_success} of {c.n_trials}" for c in found]
    sizes_list = g.sizes()
    for i, reps in enumerate(report.representative):
        lines.append(f"Group {i} ({sizes_list[i]} participants) is represented by:" + ("" if reps else " nothing distinctive"))
        for r in reps:
            verb = "agrees with" if r.direction == "agree" else "disagrees with"
            mark = "" if r.significant else ", not significant"
            lines.append(f"  {verb} #{r.candidate} {_quote(e.texts.get(r.candidate, ''))}: {r.n_success} of {r.n_trials}{mark}")
    return "\n".join(lines)
