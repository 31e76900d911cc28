"""Polis-style CSV bundle (read by red-dwarf and other Polis tools). Candidates play the role of
comments; participants are numbered 1… in the order of their pseudonymous ids, and
participant-annotators.csv maps each number to the annotator id used by the other files.

Authorship: a model candidate's author-id is 0. A response written by a member gets an author-id of
its own above every participant's (one per response), so no file joins what a member wrote to her
participant number, her annotator id, or her other responses; n-comments is 0 for every participant."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.domain.model import STANCE_VOTE
from bot.export.context import Context
from bot.export.derive import MemberData, MemberPlan
from bot.export.formats import Emitter
from bot.export.writers import CsvFile, Output

POLIS_COMMENTS = ("timestamp", "datetime", "comment-id", "author-id", "agrees", "disagrees", "moderated", "comment-body")
POLIS_COMMENT_EXTRA = (
    "is-seed",
    "is-meta",
    "round-id",
    "scenario-id",
    "amendment-id",
    "policy",
    "policy-version",
    "author-kind",
    "model",
    "method",
    "temperature",
)
POLIS_VOTES = ("timestamp", "datetime", "comment-id", "voter-id", "vote")
POLIS_PARTICIPANTS = ("participant", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree")


def polis_datetime(moment: datetime | None) -> tuple[str, str]:
    if moment is None:
        return "", ""
    moment = moment.astimezone(UTC)
    return str(int(moment.timestamp())), moment.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


class PolisEmitter(Emitter):
    name = "polis"

    def __init__(self, root: Path, ctx: Context, plan: MemberPlan, groups: dict[str, int], now: datetime) -> None:
        self.root = root
        self.ctx = ctx
        self.groups = groups
        self.now = now
        self.comment_ids = [c.id for c in sorted(ctx.candidates.values(), key=lambda c: c.id)]
        self.agrees = dict.fromkeys(self.comment_ids, 0)
        self.disagrees = dict.fromkeys(self.comment_ids, 0)
        self.voted = dict.fromkeys(self.comment_ids, 0)
        self.voters = 0
        first_author = len(plan.order) + 1
        written = [cid for cid in self.comment_ids if ctx.candidates[cid].author_kind != "model"]
        self.author_of = {cid: first_author + i for i, cid in enumerate(written)}
        self.votes = CsvFile(root, "polis/votes.csv", "polis-votes", POLIS_VOTES)
        self.participants = CsvFile(
            root, "polis/participants-votes.csv", "polis-participants-votes", (*POLIS_PARTICIPANTS, *map(str, self.comment_ids))
        )
        self.annotators = CsvFile(
            root, "polis/participant-annotators.csv", "polis-participant-annotators", ("participant", "annotator-id")
        )

    def member(self, m: MemberData) -> None:
        pid = m.participant
        self.annotators.write((pid, m.annotator))
        agree = disagree = 0
        for cand, stance in sorted(m.stances.items()):
            vote = STANCE_VOTE[stance]
            ts, dt = polis_datetime(m.stance_at.get(cand))
            self.votes.write((ts, dt, cand, pid, vote))
            self.voted[cand] += 1
            if vote == 1:
                agree += 1
                self.agrees[cand] += 1
            elif vote == -1:
                disagree += 1
                self.disagrees[cand] += 1
        if m.stances:
            self.voters += 1
        group = self.groups.get(m.member)
        cells = [STANCE_VOTE[m.stances[c]] if c in m.stances else "" for c in self.comment_ids]
        self.participants.write((pid, "" if group is None else group, 0, len(m.stances), agree, disagree, *cells))

    def unvoted(self) -> dict[str, int]:
        """Comments nobody voted on, by kind: previews under an amendment, and the others."""
        out = {"preview": 0, "policy_version": 0}
        for cid, n in self.voted.items():
            if n == 0:
                preview = self.ctx.groups[self.ctx.candidates[cid].group].amendment_id != 0
                out["preview" if preview else "policy_version"] += 1
        return out

    def _comments(self) -> Output:
        ctx = self.ctx
        comments = CsvFile(self.root, "polis/comments.csv", "polis-comments", (*POLIS_COMMENTS, *POLIS_COMMENT_EXTRA))
        for cid in self.comment_ids:
            c = ctx.candidates[cid]
            g = ctx.groups[c.group]
            r = ctx.rounds[g.round_id]
            ts, dt = polis_datetime(c.created_at)
            comments.write(
                (
                    ts,
                    dt,
                    cid,
                    self.author_of.get(cid, 0),
                    self.agrees[cid],
                    self.disagrees[cid],
                    1,
                    c.text,
                    "true" if c.author_kind == "model" else "false",
                    "false",
                    g.round_id,
                    g.scenario_id,
                    g.amendment_id,
                    r.policy,
                    r.version,
                    c.author_kind,
                    c.model,
                    c.method,
                    "" if c.temperature is None else c.temperature,
                )
            )
        return comments.close()

    def close(self) -> list[Output]:
        ctx = self.ctx
        comments = self._comments()
        policies = sorted({f"{r.policy} v{r.version}" for r in ctx.rounds.values()})
        summary = CsvFile(self.root, "polis/summary.csv", "polis-summary", ("key", "value"))
        for key, value in (
            ("topic", f"policybot: {', '.join(policies)}"),
            ("url", ""),
            ("voters", self.voters),
            ("voters-in-conv", self.voters),
            ("commenters", len(self.author_of)),
            ("comments", len(self.comment_ids)),
            ("groups", len(set(self.groups.values()))),
            (
                "conversation-description",
                f"Candidate responses to scenarios under {', '.join(policies)} ({ctx.scope.describe()})",
            ),
            ("generated-at", self.now.astimezone(UTC).isoformat()),
        ):
            summary.write((key, value))
        return [comments, self.votes.close(), self.participants.close(), summary.close(), self.annotators.close()]
