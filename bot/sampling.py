"""Sampling K candidate responses for one scenario under one policy, through the Generator port."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from bot.errors import GeneratorFailed
from bot.model import ClauseText, Turn
from bot.ports import Generator
from bot.prompts import CANDIDATE_PROMPT_VERSION, candidate_prompt, prompt_hash


@dataclass(frozen=True, slots=True)
class CandidateDraft:
    text: str
    model: str
    method: str
    temperature: float
    prompt_version: str
    prompt_hash: str
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def settings_json(self) -> str:
        return json.dumps(self.settings, sort_keys=True)


async def sample_independent(
    generator: Generator,
    policy_name: str,
    clauses: list[ClauseText],
    turns: tuple[Turn, ...],
    k: int,
    *,
    temperature: float,
    limit: asyncio.Semaphore,
) -> list[CandidateDraft]:
    """K separate calls at the same temperature (bounded by `limit` calls in flight)."""
    prompt = candidate_prompt(policy_name, clauses, turns, temperature)
    digest = prompt_hash(prompt, generator.model)

    async def one(i: int) -> CandidateDraft:
        async with limit:
            done = await generator.complete(prompt)
        text = done.text.strip()
        if not text:
            raise GeneratorFailed(done.model, "the model returned an empty response")
        return CandidateDraft(
            text=text,
            model=done.model,
            method="independent",
            temperature=temperature,
            prompt_version=CANDIDATE_PROMPT_VERSION,
            prompt_hash=digest,
            settings={
                "sample": i,
                "max_tokens": prompt.max_tokens,
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "latency_ms": round(done.latency_ms, 1),
            },
        )

    return list(await asyncio.gather(*(one(i) for i in range(k))))
