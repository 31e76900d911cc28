"""What the erasure tests share: the member who leaves and her words, a model that echoes what it
is given (so its answers to her words hold her words, as a real model's often do), and scans of
every text column of every table, of an export's files (Parquet decoded) and of posts."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import MetaData, select
from sqlalchemy.types import JSON, LargeBinary, String

from bot.domain.outputs import Post
from bot.ports import Completion, Prompt
from storage.database import Database

POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."


@dataclass(frozen=True)
class Her:
    """The member who erases: her platform id, her display name, and a word unique to each text she writes."""

    member: str
    name: str
    scenario: str = "Is it safe to microwave a sealed jar of zebrawood honey for my grandmother?"
    reason_endorse: str = "The kumquat principle: calm, clear and kind."
    reason_object: str = "This breaks the glockenspiel rule of plain advice."
    reason_best: str = "Best because of the pangolin reasoning it shows."
    reason_taken_back: str = "A wombat reason I took back later."
    response: str = "Run it under cool water for twenty minutes: the marmoset method."
    amendment: str = "Be kind, and apply the tamarind test to every answer."
    rationale: str = "The xylophone argument convinced me of this change."

    def needles(self) -> tuple[str, ...]:
        words = ("zebrawood", "kumquat", "glockenspiel", "pangolin", "wombat", "marmoset", "tamarind", "xylophone")
        return (self.member, self.name, *words)

    def hits(self, where: str, text: str) -> list[str]:
        low = text.lower()
        return [f"{where}: {n!r} in {text[:160]!r}" for n in self.needles() if n.lower() in low]


# ---------------------------------------------------------------- a model that echoes


_MANY = re.compile(r'exactly (\d+) items under "(\w+)"')


def _block(text: str, tag: str) -> Any:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    return json.loads(m.group(1)) if m else None


def echoing(messages: list[tuple[str, str]], n: int = 0) -> str:
    """An answer to one of our requests, in the format it asks for, quoting what it was given: the
    scenario and the policy's first clause in candidates, members' reasons in a draft's rationale."""
    system = " ".join(c for r, c in messages if r == "system")
    user = messages[-1][1]
    policy = _block(system, "policy") or [""]
    many = _MANY.search(system)
    if many and many.group(2) == "responses":
        asked = (_block(user, "conversation") or [{"content": ""}])[-1]["content"][:90]
        k = int(many.group(1))
        items = [{"stance": f"s{i}", "text": f"Answer {i} about “{asked}”, under “{policy[0]}”."} for i in range(k)]
        return json.dumps({"responses": items})
    if many and many.group(2) == "cases":
        kinds = [k for k in ("loophole", "over-reach", "unclear") if k in system.split("Each item is")[-1]]
        prompts = [f"Case {i}: my friend burned a hand, what now?" for i in range(int(many.group(1)))]
        cases = [{"kind": kinds[i % len(kinds)], "clause": 3, "prompt": p, "why": "tests 3"} for i, p in enumerate(prompts)]
        return json.dumps({"cases": cases})
    if '"amendments"' in system:
        evidence = _block(user, "evidence") or {"candidates": []}
        reasons = [r["reason"] for c in evidence["candidates"] for r in c.get("reasons", [])]
        draft = {
            "kind": "replace",
            "clause": 3,
            "text": "Give general first-aid information and suggest seeing a doctor.",
            "rationale": "Members wrote: " + " / ".join(reasons),
            "evidence": [c["id"] for c in evidence["candidates"]][:3],
        }
        return json.dumps({"amendments": [draft]})
    return f"Answer {n} about “{user[:90]}”, under “{policy[0]}”."  # independent sampling: the chat itself


def reply_to(body: dict[str, Any]) -> str:
    """For the local OpenAI-compatible server."""
    return echoing([(m["role"], str(m["content"])) for m in body["messages"]])


@dataclass
class EchoingGenerator:
    """A fake of our Generator port that answers as `echoing` does."""

    model_name: str = "fake/echo"
    _n: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def model(self) -> str:
        return self.model_name

    async def complete(self, prompt: Prompt) -> Completion:
        text = echoing([(m.role, m.content) for m in prompt.messages], next(self._n))
        return Completion(text=text, model=self.model_name, prompt_tokens=10, completion_tokens=5, latency_ms=1.0)


# ---------------------------------------------------------------- scans


def texty_column(column: Any) -> bool:
    """Whether a column can hold text: strings of any kind, JSON, bytes, and any type not known to be otherwise."""
    if isinstance(column.type, String | JSON | LargeBinary):
        return True
    try:
        return column.type.python_type in (str, bytes, dict, list)
    except NotImplementedError:
        return True  # a type SQLAlchemy cannot name: scanned as text all the same


async def scan_database(database: Database, her: Her) -> list[str]:
    """Her words, name or id in any text column of any table the database holds (reflected, so a
    table no model declares is scanned too)."""
    found: list[str] = []
    async with database.engine.connect() as conn:
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        for table in meta.sorted_tables:
            columns = [c for c in table.columns if texty_column(c)]
            if not columns:
                continue
            for row in (await conn.execute(select(*columns))).all():
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                        found += her.hits(f"{table.name}.{column.name}", text)
    return found


def scan_export(root: Path, her: Her) -> list[str]:
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False)
        else:
            text = path.read_text(encoding="utf-8")
        found += her.hits(str(path.relative_to(root)), text)
    return found


def post_texts(post: Post) -> list[str]:
    return [post.title, post.text, *(t for f in post.fields for t in (f.name, f.value)), *(b.label for b in post.buttons)]


def scan_texts(where: str, texts: Iterable[str], her: Her) -> list[str]:
    return [h for t in texts if t for h in her.hits(where, t)]
