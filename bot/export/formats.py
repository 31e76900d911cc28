"""The export formats, their files, and the per-member emitters of the TRL formats.

Field names follow ALGORITHMS.md ("Export formats"). Every row carries its provenance: round id,
policy name and version, clause ids, scenario id, amendment id (0: the policy version itself), the
candidates' ids with their model and sampling settings, and the pseudonymous annotator id.

Every format that `datasets` loads is one config of the dataset card, with its features declared
(the Arrow schema of its columns), so its JSON Lines and Parquet files load with the same types."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pyarrow as pa

from bot.domain.model import Turn
from bot.export.context import Context, GroupInfo
from bot.export.derive import MemberData
from bot.export.writers import Column, JsonlFile, Output, ParquetFile, schema_of

FORMATS: dict[str, str] = {
    "trl": "TRL preference, conversational: prompt / chosen / rejected as messages, one row per member and pair",
    "trl-standard": "TRL preference, standard: prompt / chosen / rejected as plain text, one row per member and pair",
    "kto": "TRL unpaired preference (KTO): prompt / completion / label, one row per endorse or object",
    "openai": "OpenAI preference fine-tuning: one line per prompt and pair, in the majority's direction",
    "polis": "Polis-style CSV bundle: polis/comments.csv, votes.csv, participants-votes.csv, summary.csv",
    "community-alignment": "the Community Alignment dataset's columns, one row per member and scenario",
    "events": "raw event log: reactions, and ballots of closed rounds",
    "amendments": "every amendment: text, clause, kind, author kind, rationale, tally and result",
    "precedents": "the precedents the rounds recorded: answers like this and not like this, with their counts",
    "precedent-checks": "each amendment and published version checked against the precedents: verdict, reason, answer",
}
JSONL_ONLY = ("openai", "polis")  # OpenAI reads JSON Lines, Polis tools read CSV


@dataclass(frozen=True, slots=True)
class FileSpec:
    stem: str  # file name without extension: <stem>.jsonl, parquet/<stem>.parquet


FILES: dict[str, FileSpec] = {
    "trl": FileSpec("trl_preference"),
    "trl-standard": FileSpec("trl_preference_standard"),
    "kto": FileSpec("trl_unpaired"),
    "openai": FileSpec("openai_preference"),
    "community-alignment": FileSpec("community_alignment"),
    "events": FileSpec("events"),
    "amendments": FileSpec("amendments"),
    "precedents": FileSpec("precedents"),
    "precedent-checks": FileSpec("precedent_checks"),
}
PARQUET_DIR = "parquet"


def jsonl_path(name: str) -> str:
    return f"{FILES[name].stem}.jsonl"


def parquet_path(name: str) -> str:
    return f"{PARQUET_DIR}/{FILES[name].stem}.parquet"


MESSAGES = pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))
STRINGS = pa.list_(pa.string())


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def messages(turns: tuple[Turn, ...], system: str | None = None) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system else []
    return head + [{"role": t.role, "content": t.content} for t in turns]


ROLE_LABEL = {"system": "System", "user": "User", "assistant": "Assistant"}
ANSWER_CUE = "Assistant:"


def standard_prompt(turns: tuple[Turn, ...], system: str | None = None) -> str:
    """TRL standard form: the conversation as labelled turns, ending with the cue for the answer
    ("…\\n\\nAssistant:"); each completion starts with a space, as in TRL's own examples."""
    return "\n\n".join(f"{ROLE_LABEL[m['role']]}: {m['content']}" for m in messages(turns, system)) + "\n\n" + ANSWER_CUE


def standard_completion(text: str) -> str:
    return " " + text


class Fragments:
    """Per-scenario and per-candidate pieces, encoded once: JSON fragments for JSON Lines, and small
    Arrow arrays for Parquet columns built with take()."""

    def __init__(self, ctx: Context, *, system_prompt: bool = False) -> None:
        self.ctx = ctx
        self.system_prompt = system_prompt
        groups = ctx.groups
        rounds = ctx.rounds
        cands = sorted(ctx.candidates.values(), key=lambda c: c.index)
        self.prompt_msgs = [dumps(self.messages(g)) for g in groups]
        self.prompt_text = [dumps(self.standard(g)) for g in groups]
        self.group_prov = [
            ", ".join(
                (
                    f'"round_id": {g.round_id}',
                    f'"policy": {dumps(rounds[g.round_id].policy)}',
                    f'"policy_version": {rounds[g.round_id].version}',
                    f'"clause_ids": {dumps(list(rounds[g.round_id].clause_ids))}',
                    f'"scenario_id": {g.scenario_id}',
                    f'"amendment_id": {g.amendment_id}',
                )
            )
            for g in groups
        ]
        self.sampling = [dumps(c.sampling()) for c in cands]
        self.cand_msgs = [dumps([{"role": "assistant", "content": c.text}]) for c in cands]
        self.cand_text = [dumps(standard_completion(c.text)) for c in cands]

        def prov(prefix: str) -> list[str]:
            return [
                f'"{prefix}candidate_id": {c.id}, "{prefix}model": {dumps(c.model)}, '
                f'"{prefix}sampling": {dumps(self.sampling[c.index])}'
                for c in cands
            ]

        self.chosen_prov = prov("chosen_")
        self.rejected_prov = prov("rejected_")
        self.single_prov = prov("")
        self._cands = cands

    def system(self, g: GroupInfo) -> str | None:
        return g.system if self.system_prompt else None

    def messages(self, g: GroupInfo) -> list[dict[str, str]]:
        return messages(g.turns, self.system(g))

    def standard(self, g: GroupInfo) -> str:
        return standard_prompt(g.turns, self.system(g))

    # Arrow lookups (small: one entry per scenario or candidate)
    @cached_property
    def a_prompt_msgs(self) -> pa.Array:
        return pa.array([self.messages(g) for g in self.ctx.groups], MESSAGES)

    @cached_property
    def a_prompt_text(self) -> pa.Array:
        return pa.array([self.standard(g) for g in self.ctx.groups], pa.string())

    def _per_group(self, value: Callable[[GroupInfo], object], type_: pa.DataType) -> Callable[[], pa.Array]:
        return lambda: pa.array([value(g) for g in self.ctx.groups], type_)

    @cached_property
    def a_cand_msgs(self) -> pa.Array:
        return pa.array([[{"role": "assistant", "content": c.text}] for c in self._cands], MESSAGES)

    @cached_property
    def a_cand_text(self) -> pa.Array:
        return pa.array([standard_completion(c.text) for c in self._cands], pa.string())

    def group_columns(self, slot: int) -> list[Column]:
        rounds = self.ctx.rounds
        return [
            Column("round_id", pa.int64(), slot, self._per_group(lambda g: g.round_id, pa.int64())),
            Column("policy", pa.string(), slot, self._per_group(lambda g: rounds[g.round_id].policy, pa.string())),
            Column("policy_version", pa.int64(), slot, self._per_group(lambda g: rounds[g.round_id].version, pa.int64())),
            Column("clause_ids", STRINGS, slot, self._per_group(lambda g: list(rounds[g.round_id].clause_ids), STRINGS)),
            Column("scenario_id", pa.int64(), slot, self._per_group(lambda g: g.scenario_id, pa.int64())),
            Column("amendment_id", pa.int64(), slot, self._per_group(lambda g: g.amendment_id, pa.int64())),
        ]

    def candidate_columns(self, prefix: str, slot: int) -> list[Column]:
        cands = self._cands
        return [
            Column(f"{prefix}candidate_id", pa.int64(), slot, lambda: pa.array([c.id for c in cands], pa.int64())),
            Column(f"{prefix}model", pa.string(), slot, lambda: pa.array([c.model for c in cands], pa.string())),
            Column(f"{prefix}sampling", pa.string(), slot, lambda: pa.array(self.sampling, pa.string())),
        ]


class Emitter(ABC):
    name: str

    @abstractmethod
    def member(self, m: MemberData) -> None: ...

    @abstractmethod
    def close(self) -> list[Output]: ...


class Files:
    """The JSON Lines file and the Parquet file of one format, whichever are asked for, with the
    columns (and so the card's features) shared by both."""

    def __init__(self, name: str, root: Path, columns: list[Column], *, jsonl: bool, parquet: bool) -> None:
        self.schema = schema_of(columns)
        self.jsonl = JsonlFile(root, jsonl_path(name), name, config=name, schema=self.schema) if jsonl else None
        self.parquet = ParquetFile(root, parquet_path(name), f"{name}-parquet", columns, config=name) if parquet else None

    def close(self) -> list[Output]:
        return [w.close() for w in (self.jsonl, self.parquet) if w is not None]


class PreferenceEmitter(Emitter):
    """TRL preference, conversational (trl) or standard (trl-standard): one row per member and pairwise
    comparison, so every member's judgement stays a row of its own (with its annotator id)."""

    def __init__(self, name: str, root: Path, ctx: Context, frags: Fragments, *, jsonl: bool, parquet: bool) -> None:
        self.name = name
        self.ctx = ctx
        self.f = frags
        self.comparisons = {"best": 0, "stance": 0}
        conversational = name == "trl"
        kind = MESSAGES if conversational else pa.string()
        prompt = (lambda: frags.a_prompt_msgs) if conversational else (lambda: frags.a_prompt_text)
        resp = (lambda: frags.a_cand_msgs) if conversational else (lambda: frags.a_cand_text)
        columns = [
            Column("prompt", kind, 0, prompt),
            Column("chosen", kind, 1, resp),
            Column("rejected", kind, 2, resp),
            Column("annotator_id", pa.string(), 3),
            Column("basis", pa.string(), 4),
            *frags.group_columns(0),
            *frags.candidate_columns("chosen_", 1),
            *frags.candidate_columns("rejected_", 2),
        ]
        self.files = Files(name, root, columns, jsonl=jsonl, parquet=parquet)
        self.prompts, self.responses = (
            (frags.prompt_msgs, frags.cand_msgs) if name == "trl" else (frags.prompt_text, frags.cand_text)
        )

    def member(self, m: MemberData) -> None:
        f = self.f
        cands = self.ctx.candidates
        jsonl, parquet = self.files.jsonl, self.files.parquet
        for g, chosen, rejected, basis in m.pairs(self.ctx):
            ci, ri = cands[chosen].index, cands[rejected].index
            self.comparisons[basis] += 1
            if jsonl is not None:
                jsonl.write(
                    f'{{"prompt": {self.prompts[g]}, "chosen": {self.responses[ci]}, "rejected": {self.responses[ri]}, '
                    f'"annotator_id": "{m.annotator}", "basis": "{basis}", '
                    f"{f.group_prov[g]}, {f.chosen_prov[ci]}, {f.rejected_prov[ri]}}}"
                )
            if parquet is not None:
                parquet.add(g, ci, ri, m.annotator, basis)

    def close(self) -> list[Output]:
        return self.files.close()


class UnpairedEmitter(Emitter):
    """TRL unpaired preference (KTO): one row per current endorse (label true) or object (label false),
    with the reason the member gave with that reaction as `feedback` (null when none)."""

    name = "kto"

    def __init__(self, root: Path, ctx: Context, frags: Fragments, *, jsonl: bool, parquet: bool) -> None:
        self.ctx = ctx
        self.f = frags
        self.labels = {True: 0, False: 0}
        columns = [
            Column("prompt", MESSAGES, 0, lambda: frags.a_prompt_msgs),
            Column("completion", MESSAGES, 1, lambda: frags.a_cand_msgs),
            Column("label", pa.bool_(), 2),
            Column("annotator_id", pa.string(), 3),
            Column("feedback", pa.string(), 4),
            *frags.group_columns(0),
            *frags.candidate_columns("", 1),
        ]
        self.files = Files(self.name, root, columns, jsonl=jsonl, parquet=parquet)

    def member(self, m: MemberData) -> None:
        f = self.f
        jsonl, parquet = self.files.jsonl, self.files.parquet
        for cand, label in m.singles():
            c = self.ctx.candidates[cand]
            feedback = m.stance_reason.get(cand)
            self.labels[label] += 1
            if jsonl is not None:
                jsonl.write(
                    f'{{"prompt": {f.prompt_msgs[c.group]}, "completion": {f.cand_msgs[c.index]}, '
                    f'"label": {"true" if label else "false"}, '
                    f'"annotator_id": "{m.annotator}", "feedback": {dumps(feedback)}, '
                    f"{f.group_prov[c.group]}, {f.single_prov[c.index]}}}"
                )
            if parquet is not None:
                parquet.add(c.group, c.index, label, m.annotator, feedback)

    def close(self) -> list[Output]:
        return self.files.close()
