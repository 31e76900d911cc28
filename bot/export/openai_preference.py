"""OpenAI preference fine-tuning (DPO) JSON Lines: one line per prompt and pair of outputs, in the
direction most members who compared the two chose.

Members' comparisons are pooled by what OpenAI sees, the prompt's messages and the two outputs' texts
(the same texts under two rounds are one pair). A pair that as many members decided one way as the
other (a tie) is dropped; so is a pair whose two outputs have the same text (a conflict: no preference
can be expressed). Both are counted in the dataset card. OpenAI's guide: "we only train on one-turn
conversations for each example, where the preferred and non-preferred messages need to be the last
assistant message": here they always are; a scenario's earlier turns are the context of that one
trained turn, and the card counts the lines that carry such context.

Provenance sits line by line in openai_preference.provenance.jsonl (the OpenAI file must hold only the
documented fields): the votes each way and every candidate pair pooled into the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from bot.export.context import Context
from bot.export.derive import MemberData
from bot.export.formats import MESSAGES, STRINGS, Emitter, Fragments, dumps, jsonl_path
from bot.export.writers import JsonlFile, Output

NAME = "openai"
PROVENANCE = "openai-provenance"
OUTPUT = pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))
SCHEMA = pa.schema(
    [
        pa.field(
            "input",
            pa.struct(
                [
                    pa.field("messages", MESSAGES),
                    pa.field("tools", pa.list_(pa.null())),
                    pa.field("parallel_tool_calls", pa.bool_()),
                ]
            ),
        ),
        pa.field("preferred_output", OUTPUT),
        pa.field("non_preferred_output", OUTPUT),
    ]
)
PAIR = pa.struct(
    [
        pa.field("round_id", pa.int64()),
        pa.field("policy", pa.string()),
        pa.field("policy_version", pa.int64()),
        pa.field("clause_ids", STRINGS),
        pa.field("scenario_id", pa.int64()),
        pa.field("amendment_id", pa.int64()),
        pa.field("preferred_candidate_id", pa.int64()),
        pa.field("preferred_model", pa.string()),
        pa.field("non_preferred_candidate_id", pa.int64()),
        pa.field("non_preferred_model", pa.string()),
    ]
)
PROVENANCE_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64()),
        pa.field("preferred_by", pa.int64()),
        pa.field("non_preferred_by", pa.int64()),
        pa.field("from_best_picks", pa.int64()),
        pa.field("from_stances", pa.int64()),
        pa.field("pairs", pa.list_(PAIR)),
    ]
)


@dataclass
class _Tally:
    """Comparisons of two outputs (low, high: text ids in a fixed order) under one prompt."""

    first: int  # order of first appearance, for a stable file order
    low_wins: int = 0
    high_wins: int = 0
    basis: dict[str, int] = field(default_factory=lambda: {"best": 0, "stance": 0})
    pairs: dict[tuple[int, int], None] = field(default_factory=dict)  # (chosen, rejected) candidate ids, in order seen


class OpenAIEmitter(Emitter):
    name = NAME

    def __init__(self, root: Path, ctx: Context, frags: Fragments) -> None:
        self.root = root
        self.ctx = ctx
        self.f = frags
        self.prompt_of: list[int] = []  # group → prompt id (identical prompts share one)
        prompts: dict[str, int] = {}
        for line in frags.prompt_msgs:
            self.prompt_of.append(prompts.setdefault(line, len(prompts)))
        self.prompt_line = list(prompts)
        texts: dict[str, int] = {}
        self.text_of = {c.id: texts.setdefault(c.text, len(texts)) for c in sorted(ctx.candidates.values(), key=lambda c: c.id)}
        self.tallies: dict[tuple[int, int, int], _Tally] = {}
        self.counts = {"lines": 0, "unanimous": 0, "majority": 0, "ties": 0, "conflicts": 0, "with_context": 0}
        self.multi_turn_prompts = {self.prompt_of[g.index] for g in ctx.groups if len(g.turns) > 1}

    def member(self, m: MemberData) -> None:
        for g, chosen, rejected, basis in m.pairs(self.ctx):
            a, b = self.text_of[chosen], self.text_of[rejected]
            key = (self.prompt_of[g], min(a, b), max(a, b))
            t = self.tallies.get(key)
            if t is None:
                t = self.tallies[key] = _Tally(len(self.tallies))
            if a < b:
                t.low_wins += 1
            else:
                t.high_wins += 1
            t.basis[basis] += 1
            t.pairs[(chosen, rejected)] = None

    def _pair(self, chosen: int, rejected: int) -> dict[str, object]:
        c, r = self.ctx.candidates[chosen], self.ctx.candidates[rejected]
        g = self.ctx.groups[c.group]
        info = self.ctx.rounds[g.round_id]
        return {
            "round_id": g.round_id,
            "policy": info.policy,
            "policy_version": info.version,
            "clause_ids": list(info.clause_ids),
            "scenario_id": g.scenario_id,
            "amendment_id": g.amendment_id,
            "preferred_candidate_id": chosen,
            "preferred_model": c.model,
            "non_preferred_candidate_id": rejected,
            "non_preferred_model": r.model,
        }

    def _direction(self, key: tuple[int, int, int], t: _Tally) -> tuple[int, int, int, int] | None:
        """(preferred text id, non-preferred text id, votes for, votes against), or None when dropped."""
        _, low, high = key
        if low == high:
            self.counts["conflicts"] += 1
            return None
        if t.low_wins == t.high_wins:
            self.counts["ties"] += 1
            return None
        self.counts["unanimous" if min(t.low_wins, t.high_wins) == 0 else "majority"] += 1
        return (low, high, t.low_wins, t.high_wins) if t.low_wins > t.high_wins else (high, low, t.high_wins, t.low_wins)

    def close(self) -> list[Output]:
        out = JsonlFile(self.root, jsonl_path(NAME), NAME, config=NAME, schema=SCHEMA)
        side = JsonlFile(self.root, "openai_preference.provenance.jsonl", PROVENANCE, config=PROVENANCE, schema=PROVENANCE_SCHEMA)
        text = {i: dumps([{"role": "assistant", "content": t}]) for t, i in self._texts().items()}
        for key, t in sorted(self.tallies.items(), key=lambda kv: kv[1].first):
            decided = self._direction(key, t)
            if decided is None:
                continue
            preferred, other, votes_for, votes_against = decided
            self.counts["lines"] += 1
            self.counts["with_context"] += key[0] in self.multi_turn_prompts
            out.write(
                f'{{"input": {{"messages": {self.prompt_line[key[0]]}, "tools": [], "parallel_tool_calls": true}}, '
                f'"preferred_output": {text[preferred]}, "non_preferred_output": {text[other]}}}'
            )
            pairs = [self._pair(c, r) for c, r in t.pairs if self.text_of[c] == preferred]
            side.write(
                dumps(
                    {
                        "line": self.counts["lines"],
                        "preferred_by": votes_for,
                        "non_preferred_by": votes_against,
                        "from_best_picks": t.basis["best"],
                        "from_stances": t.basis["stance"],
                        "pairs": pairs,
                    }
                )
            )
        return [out.close(), side.close()]

    def _texts(self) -> dict[str, int]:
        by_id = {c.id: c.text for c in self.ctx.candidates.values()}
        return {by_id[cid]: tid for cid, tid in self.text_of.items()}
