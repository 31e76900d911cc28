"""Community Alignment rows, in the published dataset's columns (facebook/community-alignment-dataset),
column for column, then this project's provenance in extra columns after them.

One row per (annotator, conversation): a conversation is one scenario of a round as the member saw it
(under the policy version, or under an amendment for a preview). How a scenario maps onto the
published turns:
- The scenario's conversation is cut into exchanges (a user message, then the assistant's answer);
  its last exchange is the one the candidates answer, so a single-turn scenario fills `first_turn_*`
  and a three-message one (user, assistant, user) fills `first_turn_*` with the scripted exchange and
  `second_turn_*` with the candidates. A conversation of more than four exchanges keeps its last four
  (the whole conversation is always in `prompt`).
- A scripted exchange has its answer as `response_a`, no other response, and no preferred response or
  feedback: nobody chose it.
- `response_a`…`_d` are the first four model-generated candidates, in the order members saw them.
  Every other candidate shown beside them (model candidates E… of a round with more than four, and
  responses written by members) is in `additional_responses`, never in a response column of its
  own; when the member's best pick is one of them, the preferred response is null and
  `preferred_candidate_id` names it.
- `*_feedback` of the candidates' turn is the reason the member gave with the best pick (null when
  none); the reasons given with endorse / object / pass are in `stance_feedback`.
- `is_pregenerated_first_prompt` is true: every prompt was set for the round before members reacted;
  who wrote a scenario is never exported. `assigned_lang` is null (the bot assigns no language).
- The annotator attributes are the member's self-described ones (k-anonymous, only with consent):
  age, gender and country; education level, political leaning and ethnicity are not collected (null)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from bot.domain.model import Turn
from bot.export.context import CandidateInfo, Context
from bot.export.derive import MemberData
from bot.export.formats import MESSAGES, STRINGS, Emitter, Files, Fragments, dumps, messages
from bot.export.writers import Column, Output

TURNS = ("first", "second", "third", "fourth")
LETTERS = "abcd"
ANNOTATOR_COLUMNS = (
    "annotator_age",
    "annotator_gender",
    "annotator_education_level",
    "annotator_political",
    "annotator_ethnicity",
    "annotator_country",
)
ATTRIBUTE_OF = {"annotator_age": "age", "annotator_gender": "gender", "annotator_country": "country"}


def _turn_fields(turn: str) -> list[pa.Field]:
    fields = [pa.field(f"{turn}_turn_prompt", pa.string())]
    fields += [pa.field(f"{turn}_turn_response_{x}", pa.string()) for x in LETTERS]
    return [*fields, pa.field(f"{turn}_turn_preferred_response", pa.string()), pa.field(f"{turn}_turn_feedback", pa.string())]


PUBLISHED = pa.schema(
    [
        pa.field("conversation_id", pa.int64()),
        pa.field("annotator_id", pa.string()),
        pa.field("assigned_lang", pa.string()),
        pa.field("is_pregenerated_first_prompt", pa.bool_()),
        *[f for t in TURNS for f in _turn_fields(t)],
        *[pa.field(name, pa.string()) for name in ANNOTATOR_COLUMNS],
    ]
)
ADDITIONAL = pa.struct(
    [
        pa.field("candidate_id", pa.int64()),
        pa.field("author_kind", pa.string()),
        pa.field("text", pa.string()),
        pa.field("model", pa.string()),
        pa.field("sampling", pa.string()),
        pa.field("stance", pa.string()),
        pa.field("stance_feedback", pa.string()),
    ]
)
EXTRA = pa.schema(
    [
        pa.field("round_id", pa.int64()),
        pa.field("policy", pa.string()),
        pa.field("policy_version", pa.int64()),
        pa.field("clause_ids", STRINGS),
        pa.field("scenario_id", pa.int64()),
        pa.field("amendment_id", pa.int64()),
        pa.field("candidates_turn", pa.string()),
        pa.field("candidate_ids", pa.list_(pa.int64())),
        pa.field("models", STRINGS),
        pa.field("sampling", STRINGS),
        pa.field("stances", STRINGS),
        pa.field("stance_feedback", STRINGS),
        pa.field("preferred_candidate_id", pa.int64()),
        pa.field("additional_responses", pa.list_(ADDITIONAL)),
        pa.field("prompt", MESSAGES),
        pa.field("annotator_language", pa.string()),
    ]
)
SCHEMA = pa.schema([*PUBLISHED, *EXTRA])


def exchanges(turns: tuple[Turn, ...]) -> list[tuple[str | None, str | None]]:
    """(user prompt, assistant answer) pairs; consecutive messages of one role are joined. The last
    exchange has no answer: it is the one the candidates answer."""
    out: list[list[str | None]] = []
    for t in turns:
        if t.role == "user":
            if out and out[-1][1] is None and out[-1][0] is not None:
                out[-1][0] = f"{out[-1][0]}\n\n{t.content}"
            else:
                out.append([t.content, None])
        elif not out:
            out.append([None, t.content])
        else:
            answer = out[-1][1]
            out[-1][1] = t.content if answer is None else f"{answer}\n\n{t.content}"
    return [(p, a) for p, a in out]


def conversation_id(annotator: str, round_id: int, scenario_id: int, amendment_id: int) -> int:
    """A stable id of (annotator, conversation), below 2^62."""
    key = f"{annotator}\x1f{round_id}\x1f{scenario_id}\x1f{amendment_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 2


@dataclass(frozen=True, slots=True)
class _Layout:
    """One group's fixed part: the scripted turns, which turn the candidates fill, who is in a–d."""

    scripted: dict[str, object]
    turn: str
    shown: tuple[CandidateInfo, ...]  # response_a… (model candidates, at most four)
    others: tuple[CandidateInfo, ...]  # additional_responses
    prompt: list[dict[str, str]]


class CommunityAlignmentEmitter(Emitter):
    name = "community-alignment"

    def __init__(
        self, root: Path, ctx: Context, frags: Fragments, attributes: dict[str, dict[str, str]], *, jsonl: bool, parquet: bool
    ) -> None:
        self.ctx = ctx
        self.f = frags
        self.attributes = attributes
        self.with_preference = 0
        self.long_conversations = 0  # conversations of more than four exchanges (earlier ones only in `prompt`)
        self.layouts = [self._layout(g) for g in range(len(ctx.groups))]
        self.files = Files(
            self.name, root, [Column(f.name, f.type, i) for i, f in enumerate(SCHEMA)], jsonl=jsonl, parquet=parquet
        )

    def _layout(self, g: int) -> _Layout:
        group = self.ctx.groups[g]
        cands = [self.ctx.candidates[c] for c in group.candidate_ids]
        model = [c for c in cands if c.author_kind == "model"]
        shown = tuple(model[: len(LETTERS)])
        others = tuple(c for c in cands if c not in shown)
        parts = exchanges(group.turns)
        if len(parts) > len(TURNS):
            self.long_conversations += 1
            parts = parts[-len(TURNS) :]
        scripted: dict[str, object] = {}
        for turn, (prompt, answer) in zip(TURNS, parts[:-1], strict=False):
            scripted[f"{turn}_turn_prompt"] = prompt
            scripted[f"{turn}_turn_response_a"] = answer
        return _Layout(scripted, TURNS[len(parts) - 1], shown, others, messages(group.turns))

    def _annotator(self, m: MemberData) -> dict[str, object]:
        attrs = self.attributes.get(m.member, {})
        return {name: (attrs.get(ATTRIBUTE_OF.get(name, "")) or None) for name in ANNOTATOR_COLUMNS}

    def _candidates_turn(self, m: MemberData, g: int, lay: _Layout) -> dict[str, object]:
        best = m.best.get(g)
        turn = lay.turn
        row: dict[str, object] = {f"{turn}_turn_prompt": exchanges(self.ctx.groups[g].turns)[-1][0]}
        for x, c in zip(LETTERS, lay.shown, strict=False):
            row[f"{turn}_turn_response_{x}"] = c.text
        preferred = next((f"response_{x}" for x, c in zip(LETTERS, lay.shown, strict=False) if c.id == best), None)
        row[f"{turn}_turn_preferred_response"] = preferred
        row[f"{turn}_turn_feedback"] = m.best_reason.get(g) if best is not None else None
        return row

    def _extra(self, m: MemberData, g: int, lay: _Layout) -> dict[str, object]:
        group = self.ctx.groups[g]
        r = self.ctx.rounds[group.round_id]
        stance = {c: s.value for c, s in m.stances.items()}
        return {
            "round_id": group.round_id,
            "policy": r.policy,
            "policy_version": r.version,
            "clause_ids": list(r.clause_ids),
            "scenario_id": group.scenario_id,
            "amendment_id": group.amendment_id,
            "candidates_turn": lay.turn,
            "candidate_ids": [c.id for c in lay.shown],
            "models": [c.model for c in lay.shown],
            "sampling": [self.f.sampling[c.index] for c in lay.shown],
            "stances": [stance.get(c.id) for c in lay.shown],
            "stance_feedback": [m.stance_reason.get(c.id) for c in lay.shown],
            "preferred_candidate_id": m.best.get(g),
            "additional_responses": [
                {
                    "candidate_id": c.id,
                    "author_kind": c.author_kind,
                    "text": c.text,
                    "model": c.model,
                    "sampling": self.f.sampling[c.index],
                    "stance": stance.get(c.id),
                    "stance_feedback": m.stance_reason.get(c.id),
                }
                for c in lay.others
            ],
            "prompt": lay.prompt,
            "annotator_language": self.attributes.get(m.member, {}).get("language") or None,
        }

    def row(self, m: MemberData, g: int) -> dict[str, object]:
        lay = self.layouts[g]
        group = self.ctx.groups[g]
        row: dict[str, object] = dict.fromkeys(SCHEMA.names)
        row["conversation_id"] = conversation_id(m.annotator, group.round_id, group.scenario_id, group.amendment_id)
        row["annotator_id"] = m.annotator
        row["is_pregenerated_first_prompt"] = True
        row.update(lay.scripted)
        row.update(self._candidates_turn(m, g, lay))
        row.update(self._annotator(m))
        row.update(self._extra(m, g, lay))
        return row

    def member(self, m: MemberData) -> None:
        jsonl, parquet = self.files.jsonl, self.files.parquet
        for g in m.groups_touched(self.ctx):
            row = self.row(m, g)
            self.with_preference += row["preferred_candidate_id"] is not None
            if jsonl is not None:
                jsonl.write(dumps(row))
            if parquet is not None:
                parquet.add(*row.values())

    def close(self) -> list[Output]:
        return self.files.close()
