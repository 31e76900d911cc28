"""The export formats. Each emitter receives one member's judgements at a time and writes its rows.

Field names follow ALGORITHMS.md ("Export formats"). Every row carries its provenance: round id,
policy name and version, clause ids, scenario id, amendment id (0: the policy version itself), the
candidates' ids with their model and sampling settings, and the pseudonymous annotator id."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import pyarrow as pa

from bot.domain.model import STANCE_VOTE, Turn
from bot.export.attributes import ATTRIBUTES
from bot.export.context import Context, GroupInfo
from bot.export.derive import MemberData, MemberPlan
from bot.export.writers import Column, CsvFile, JsonlFile, Output, ParquetFile

FORMATS: dict[str, str] = {
    "trl": "TRL preference, conversational: prompt / chosen / rejected as messages (trl_preference.jsonl)",
    "trl-standard": "TRL preference, standard: prompt / chosen / rejected as plain text (trl_preference_standard.jsonl)",
    "kto": "TRL unpaired preference (KTO): prompt / completion / label (trl_unpaired.jsonl)",
    "openai": "OpenAI preference fine-tuning (openai_preference.jsonl, provenance line by line beside it)",
    "polis": "Polis-style CSV bundle: polis/comments.csv, votes.csv, participants-votes.csv, summary.csv",
    "community-alignment": "Community-Alignment-style rows, one per annotator and scenario (community_alignment.jsonl)",
    "events": "raw event log: reactions, and ballots of closed rounds (events.jsonl)",
}
PARQUET_FORMATS = ("trl", "trl-standard", "kto", "community-alignment", "events")
LETTERS = "abcdefgh"

MESSAGES = pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def messages(turns: tuple[Turn, ...]) -> list[dict[str, str]]:
    return [{"role": t.role, "content": t.content} for t in turns]


def plain_prompt(turns: tuple[Turn, ...]) -> str:
    if len(turns) == 1:
        return turns[0].content
    return "\n\n".join(f"{t.role}: {t.content}" for t in turns)


def polis_datetime(moment: datetime | None) -> tuple[str, str]:
    if moment is None:
        return "", ""
    moment = moment.astimezone(UTC)
    return str(int(moment.timestamp())), moment.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


class Fragments:
    """Per-scenario and per-candidate pieces, encoded once: JSON fragments for JSON Lines, and small
    Arrow arrays for Parquet columns built with take()."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        groups = ctx.groups
        rounds = ctx.rounds
        cands = sorted(ctx.candidates.values(), key=lambda c: c.index)
        self.prompt_msgs = [_dumps(messages(g.turns)) for g in groups]
        self.prompt_text = [_dumps(plain_prompt(g.turns)) for g in groups]
        self.group_prov = [
            ", ".join(
                (
                    f'"round_id": {g.round_id}',
                    f'"policy": {_dumps(rounds[g.round_id].policy)}',
                    f'"policy_version": {rounds[g.round_id].version}',
                    f'"clause_ids": {_dumps(list(rounds[g.round_id].clause_ids))}',
                    f'"scenario_id": {g.scenario_id}',
                    f'"amendment_id": {g.amendment_id}',
                )
            )
            for g in groups
        ]
        self.sampling = [_dumps(c.sampling()) for c in cands]
        self.cand_msgs = [_dumps([{"role": "assistant", "content": c.text}]) for c in cands]
        self.cand_text = [_dumps(c.text) for c in cands]

        def prov(prefix: str) -> list[str]:
            return [
                f'"{prefix}candidate_id": {c.id}, "{prefix}model": {_dumps(c.model)}, '
                f'"{prefix}sampling": {_dumps(self.sampling[c.index])}'
                for c in cands
            ]

        self.chosen_prov = prov("chosen_")
        self.rejected_prov = prov("rejected_")
        self.single_prov = prov("")
        self._cands = cands

    # Arrow lookups, built only when a Parquet file is written (small: one entry per scenario or candidate)
    @cached_property
    def a_prompt_msgs(self) -> pa.Array:
        return pa.array([messages(g.turns) for g in self.ctx.groups], MESSAGES)

    @cached_property
    def a_prompt_text(self) -> pa.Array:
        return pa.array([plain_prompt(g.turns) for g in self.ctx.groups], pa.string())

    def _per_group(self, value: Callable[[GroupInfo], object], type_: pa.DataType) -> pa.Array:
        return pa.array([value(g) for g in self.ctx.groups], type_)

    @cached_property
    def a_cand_msgs(self) -> pa.Array:
        return pa.array([[{"role": "assistant", "content": c.text}] for c in self._cands], MESSAGES)

    @cached_property
    def a_cand_text(self) -> pa.Array:
        return pa.array([c.text for c in self._cands], pa.string())

    def group_columns(self, slot: int) -> list[Column]:
        rounds = self.ctx.rounds
        strings = pa.list_(pa.string())
        return [
            Column("round_id", pa.int64(), slot, self._per_group(lambda g: g.round_id, pa.int64())),
            Column("policy", pa.string(), slot, self._per_group(lambda g: rounds[g.round_id].policy, pa.string())),
            Column("policy_version", pa.int64(), slot, self._per_group(lambda g: rounds[g.round_id].version, pa.int64())),
            Column("clause_ids", strings, slot, self._per_group(lambda g: list(rounds[g.round_id].clause_ids), strings)),
            Column("scenario_id", pa.int64(), slot, self._per_group(lambda g: g.scenario_id, pa.int64())),
            Column("amendment_id", pa.int64(), slot, self._per_group(lambda g: g.amendment_id, pa.int64())),
        ]

    def candidate_columns(self, prefix: str, slot: int) -> list[Column]:
        cands = self._cands
        return [
            Column(f"{prefix}candidate_id", pa.int64(), slot, pa.array([c.id for c in cands], pa.int64())),
            Column(f"{prefix}model", pa.string(), slot, pa.array([c.model for c in cands], pa.string())),
            Column(f"{prefix}sampling", pa.string(), slot, pa.array(self.sampling, pa.string())),
        ]


class Emitter(ABC):
    name: str

    @abstractmethod
    def member(self, m: MemberData) -> None: ...

    @abstractmethod
    def close(self) -> list[Output]: ...


class PreferenceEmitter(Emitter):
    """TRL preference (conversational or standard) and OpenAI preference fine-tuning: one row per
    pairwise comparison."""

    def __init__(self, name: str, root: Path, ctx: Context, frags: Fragments, *, jsonl: bool, parquet: bool) -> None:
        self.name = name
        self.ctx = ctx
        self.f = frags
        self.comparisons = {"best": 0, "stance": 0}
        stem = {"trl": "trl_preference", "trl-standard": "trl_preference_standard", "openai": "openai_preference"}[name]
        self.jsonl = JsonlFile(root, f"{stem}.jsonl", name) if jsonl else None
        self.sidecar = JsonlFile(root, f"{stem}.provenance.jsonl", f"{name}-provenance") if jsonl and name == "openai" else None
        self.parquet: ParquetFile | None = None
        if parquet and name != "openai":
            prompt, resp = (frags.a_prompt_msgs, frags.a_cand_msgs) if name == "trl" else (frags.a_prompt_text, frags.a_cand_text)
            columns = [
                Column("prompt", prompt.type, 0, prompt),
                Column("chosen", resp.type, 1, resp),
                Column("rejected", resp.type, 2, resp),
                Column("annotator_id", pa.string(), 3),
                Column("basis", pa.string(), 4),
                *frags.group_columns(0),
                *frags.candidate_columns("chosen_", 1),
                *frags.candidate_columns("rejected_", 2),
            ]
            self.parquet = ParquetFile(root, f"{stem}.parquet", f"{name}-parquet", columns)

    def member(self, m: MemberData) -> None:
        f = self.f
        cands = self.ctx.candidates
        annotator = f'"annotator_id": "{m.annotator}"'
        for g, chosen, rejected, basis in m.pairs(self.ctx):
            ci, ri = cands[chosen].index, cands[rejected].index
            self.comparisons[basis] += 1
            if self.jsonl is not None:
                if self.name == "trl":
                    head = f'{{"prompt": {f.prompt_msgs[g]}, "chosen": {f.cand_msgs[ci]}, "rejected": {f.cand_msgs[ri]}, '
                elif self.name == "trl-standard":
                    head = f'{{"prompt": {f.prompt_text[g]}, "chosen": {f.cand_text[ci]}, "rejected": {f.cand_text[ri]}, '
                else:
                    head = None
                prov = f'{annotator}, "basis": "{basis}", {f.group_prov[g]}, {f.chosen_prov[ci]}, {f.rejected_prov[ri]}}}'
                if head is not None:
                    self.jsonl.write(head + prov)
                else:
                    self.jsonl.write(
                        f'{{"input": {{"messages": {f.prompt_msgs[g]}, "tools": [], "parallel_tool_calls": true}}, '
                        f'"preferred_output": {f.cand_msgs[ci]}, "non_preferred_output": {f.cand_msgs[ri]}}}'
                    )
                    assert self.sidecar is not None
                    self.sidecar.write("{" + prov)
            if self.parquet is not None:
                self.parquet.add(g, ci, ri, m.annotator, basis)

    def close(self) -> list[Output]:
        return [w.close() for w in (self.jsonl, self.sidecar, self.parquet) if w is not None]


class UnpairedEmitter(Emitter):
    """TRL unpaired preference (KTO): one row per endorse (label true) or object (label false)."""

    name = "kto"

    def __init__(self, root: Path, ctx: Context, frags: Fragments, *, jsonl: bool, parquet: bool) -> None:
        self.ctx = ctx
        self.f = frags
        self.labels = {True: 0, False: 0}
        self.jsonl = JsonlFile(root, "trl_unpaired.jsonl", "kto") if jsonl else None
        self.parquet = (
            ParquetFile(
                root,
                "trl_unpaired.parquet",
                "kto-parquet",
                [
                    Column("prompt", MESSAGES, 0, frags.a_prompt_msgs),
                    Column("completion", MESSAGES, 1, frags.a_cand_msgs),
                    Column("label", pa.bool_(), 2),
                    Column("annotator_id", pa.string(), 3),
                    *frags.group_columns(0),
                    *frags.candidate_columns("", 1),
                ],
            )
            if parquet
            else None
        )

    def member(self, m: MemberData) -> None:
        f = self.f
        for cand, label in m.singles():
            c = self.ctx.candidates[cand]
            self.labels[label] += 1
            if self.jsonl is not None:
                self.jsonl.write(
                    f'{{"prompt": {f.prompt_msgs[c.group]}, "completion": {f.cand_msgs[c.index]}, '
                    f'"label": {"true" if label else "false"}, '
                    f'"annotator_id": "{m.annotator}", {f.group_prov[c.group]}, {f.single_prov[c.index]}}}'
                )
            if self.parquet is not None:
                self.parquet.add(c.group, c.index, label, m.annotator)

    def close(self) -> list[Output]:
        return [w.close() for w in (self.jsonl, self.parquet) if w is not None]


class CommunityAlignmentEmitter(Emitter):
    """One row per (annotator, scenario): the prompt, responses a, b, c, d (… up to h when a round used
    more), the preferred response, the member's stances and free-text feedback, and k-anonymous
    self-described attributes (empty unless the member consented to give them)."""

    name = "community-alignment"

    def __init__(
        self, root: Path, ctx: Context, frags: Fragments, attributes: dict[str, dict[str, str]], *, jsonl: bool, parquet: bool
    ) -> None:
        self.ctx = ctx
        self.f = frags
        self.attributes = attributes
        self.width = max([4, *(len(g.candidate_ids) for g in ctx.groups)])
        self.jsonl = JsonlFile(root, "community_alignment.jsonl", self.name) if jsonl else None
        self.with_preference = 0
        attr_type = pa.struct([pa.field(a, pa.string()) for a in ATTRIBUTES])
        self.parquet = (
            ParquetFile(
                root,
                "community_alignment.parquet",
                f"{self.name}-parquet",
                [
                    Column("annotator_id", pa.string(), 1),
                    *frags.group_columns(0),
                    Column("prompt", MESSAGES, 0, frags.a_prompt_msgs),
                    *[Column(f"response_{LETTERS[i]}", pa.string(), 2 + i) for i in range(self.width)],
                    Column("preferred_response", pa.string(), 2 + self.width),
                    Column("stances", pa.list_(pa.string()), 3 + self.width),
                    Column("feedback", pa.string(), 4 + self.width),
                    Column("candidate_ids", pa.list_(pa.int64()), 5 + self.width),
                    Column("models", pa.list_(pa.string()), 6 + self.width),
                    Column("sampling", pa.list_(pa.string()), 7 + self.width),
                    Column("annotator_attributes", attr_type, 8 + self.width),
                ],
            )
            if parquet
            else None
        )

    def member(self, m: MemberData) -> None:
        ctx = self.ctx
        attrs = self.attributes.get(m.member) or dict.fromkeys(ATTRIBUTES, "")
        for g in m.groups_touched(ctx):
            group = ctx.groups[g]
            cands = [ctx.candidates[c] for c in group.candidate_ids]
            responses = [c.text for c in cands] + [""] * (self.width - len(cands))
            best = m.best.get(g)
            preferred = next((f"response_{LETTERS[i]}" for i, c in enumerate(cands) if c.id == best), "")
            self.with_preference += bool(preferred)
            stances = [m.stances[c.id].value if c.id in m.stances else "" for c in cands]
            feedback = "\n".join(f"{LETTERS[i]}: {m.reasons[c.id]}" for i, c in enumerate(cands) if c.id in m.reasons)
            ids = [c.id for c in cands]
            models = [c.model for c in cands]
            sampling = [self.f.sampling[c.index] for c in cands]
            if self.jsonl is not None:
                row: dict[str, object] = {"annotator_id": m.annotator}
                row.update(json.loads("{" + self.f.group_prov[g] + "}"))
                row["prompt"] = messages(group.turns)
                row.update({f"response_{LETTERS[i]}": r for i, r in enumerate(responses)})
                row.update(
                    preferred_response=preferred,
                    stances=stances,
                    feedback=feedback,
                    candidate_ids=ids,
                    models=models,
                    sampling=sampling,
                    annotator_attributes=attrs,
                )
                self.jsonl.write(_dumps(row))
            if self.parquet is not None:
                self.parquet.add(g, m.annotator, *responses, preferred, stances, feedback, ids, models, sampling, attrs)

    def close(self) -> list[Output]:
        return [w.close() for w in (self.jsonl, self.parquet) if w is not None]


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


class PolisEmitter(Emitter):
    """Polis-style CSV bundle. Candidates play the role of comments (author-id 0 is the model);
    participants are numbered 1… in the order of their pseudonymous ids, and
    participant-annotators.csv maps each number to the annotator id used by the other files."""

    name = "polis"

    def __init__(self, root: Path, ctx: Context, plan: MemberPlan, groups: dict[str, int], now: datetime) -> None:
        self.root = root
        self.ctx = ctx
        self.plan = plan
        self.groups = groups
        self.now = now
        self.comment_ids = [c.id for c in sorted(ctx.candidates.values(), key=lambda c: c.id)]
        self.agrees = dict.fromkeys(self.comment_ids, 0)
        self.disagrees = dict.fromkeys(self.comment_ids, 0)
        self.voters = 0
        self.votes = CsvFile(root, "polis/votes.csv", "polis-votes", POLIS_VOTES)
        self.participants = CsvFile(
            root, "polis/participants-votes.csv", "polis-participants-votes", (*POLIS_PARTICIPANTS, *map(str, self.comment_ids))
        )
        self.annotators = CsvFile(
            root, "polis/participant-annotators.csv", "polis-participant-annotators", ("participant", "annotator-id")
        )
        self.authored: dict[str, int] = {}
        for c in ctx.candidates.values():
            if c.author_member is not None:
                self.authored[c.author_member] = self.authored.get(c.author_member, 0) + 1

    def member(self, m: MemberData) -> None:
        pid = m.participant
        self.annotators.write((pid, m.annotator))
        agree = disagree = 0
        for cand, stance in sorted(m.stances.items()):
            vote = STANCE_VOTE[stance]
            ts, dt = polis_datetime(m.stance_at.get(cand))
            self.votes.write((ts, dt, cand, pid, vote))
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
        self.participants.write(
            (pid, "" if group is None else group, self.authored.get(m.member, 0), len(m.stances), agree, disagree, *cells)
        )

    def close(self) -> list[Output]:
        ctx = self.ctx
        comments = CsvFile(self.root, "polis/comments.csv", "polis-comments", (*POLIS_COMMENTS, *POLIS_COMMENT_EXTRA))
        for cid in self.comment_ids:
            c = ctx.candidates[cid]
            g = ctx.groups[c.group]
            r = ctx.rounds[g.round_id]
            ts, dt = polis_datetime(c.created_at)
            author = 0 if c.author_member is None else self.plan.participant.get(c.author_member, 0)
            comments.write(
                (
                    ts,
                    dt,
                    cid,
                    author,
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
        policies = sorted({f"{r.policy} v{r.version}" for r in ctx.rounds.values()})
        summary = CsvFile(self.root, "polis/summary.csv", "polis-summary", ("key", "value"))
        for key, value in (
            ("topic", f"policybot: {', '.join(policies)}"),
            ("url", ""),
            ("voters", self.voters),
            ("voters-in-conv", self.voters),
            ("commenters", len({c.author_member for c in ctx.candidates.values() if c.author_member})),
            ("comments", len(self.comment_ids)),
            ("groups", len(set(self.groups.values()))),
            (
                "conversation-description",
                f"Candidate responses to scenarios under {', '.join(policies)} ({ctx.scope.describe()})",
            ),
            ("generated-at", self.now.astimezone(UTC).isoformat()),
        ):
            summary.write((key, value))
        return [
            comments.close(),
            self.votes.close(),
            self.participants.close(),
            summary.close(),
            self.annotators.close(),
        ]
