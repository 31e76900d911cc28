"""Sampling K candidate responses for one scenario under one policy, through the Generator port.

Two methods (POLICYBOT_SAMPLING):
- "negatively-correlated" (default): one request asks for K responses that differ deliberately
  (stances, values, caution), answered as JSON and split into K candidates. Independent samples of
  one model are too alike to show where people disagree (Community Alignment, Zhang et al. 2025).
- "independent": K separate requests at the same temperature (sample index 0…K-1 in the cache key).

Either way each candidate records its method, model, temperature, prompt version and prompt hash."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain.model import ClauseText, Turn
from bot.generation.calls import Answer, CallContext, Malformed, ask
from bot.generation.prompts import CANDIDATE_PROMPT_VERSION, NC_PROMPT_VERSION, candidate_prompt, nc_prompt, prompt_hash
from bot.ports import Prompt
from bot.services import Services
from storage.tables import LLMCacheRow

INDEPENDENT = "independent"
NEGATIVELY_CORRELATED = "negatively-correlated"
METHODS = (NEGATIVELY_CORRELATED, INDEPENDENT)

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_REFUSAL = re.compile(
    r"^\s*(?:(?:i'm|i am)\s+)?(?:sorry|unable|not able)\b|^\s*i\s+(?:can(?:no|')t|won't|will not)\b", re.IGNORECASE
)


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


def load_json(text: str) -> object:
    """JSON from a model answer, tolerating a ```json fence around it."""
    m = _FENCE.match(text)
    body = m.group(1) if m else text.strip()
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        start, end = body.find("{"), body.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(body[start : end + 1])
            except json.JSONDecodeError:
                pass
    raise Malformed("the answer is not JSON" + (" (it reads like a refusal)" if _REFUSAL.match(body) else ""))


def json_items(text: str, key: str) -> list[object]:
    data = load_json(text)
    items = data.get(key) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise Malformed(f'the answer has no list under "{key}"')
    return items


def parse_responses(text: str, k: int) -> list[tuple[str, str]]:
    """(stance, text) × exactly K, each non-empty and all different; else Malformed."""
    items = json_items(text, "responses")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(items, 1):
        if isinstance(item, str):
            stance, body = "", item
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            stance, body = str(item.get("stance") or ""), item["text"]
        else:
            raise Malformed(f"response {i} has no text")
        if not body.strip():
            raise Malformed(f"response {i} is empty")
        out.append((stance.strip()[:200], body.strip()))
    if len(out) != k:
        raise Malformed(f"expected {k} responses, got {len(out)}")
    if len({b for _, b in out}) != k:
        raise Malformed("two responses are identical")
    return out


def parse_single(text: str) -> str:
    body = text.strip()
    if not body:
        raise Malformed("the response is empty")
    return body


def _draft(
    answer: Answer[Any], text: str, method: str, prompt: Prompt, version: str, k: int, **position: object
) -> CandidateDraft:
    """One candidate with its provenance: model, method, prompt version and hash, and the usage of
    the request that produced it (one request for all K under negatively-correlated sampling)."""
    return CandidateDraft(
        text=text,
        model=answer.model,
        method=method,
        temperature=prompt.temperature,
        prompt_version=version,
        prompt_hash=answer.prompt_hash,
        settings={
            "k": k,
            **position,
            "max_tokens": prompt.max_tokens,
            "cached": answer.cached,
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "latency_ms": round(answer.latency_ms, 1),
        },
    )


async def sample_negatively_correlated(
    svc: Services,
    policy_name: str,
    clauses: Sequence[ClauseText],
    turns: Sequence[Turn],
    k: int,
    *,
    temperature: float,
    ctx: CallContext,
    limit: asyncio.Semaphore | None = None,
    prefetched: Mapping[tuple[str, int], LLMCacheRow] | None = None,
) -> list[CandidateDraft]:
    prompt = nc_prompt(policy_name, clauses, turns, k, temperature)
    answer: Answer[list[tuple[str, str]]] = await ask(
        svc, prompt, lambda t: parse_responses(t, k), ctx, limit=limit, prefetched=prefetched
    )
    return [
        _draft(answer, body, NEGATIVELY_CORRELATED, prompt, NC_PROMPT_VERSION, k, index=i, stance=stance)
        for i, (stance, body) in enumerate(answer.value)
    ]


async def sample_independent(
    svc: Services,
    policy_name: str,
    clauses: Sequence[ClauseText],
    turns: Sequence[Turn],
    k: int,
    *,
    temperature: float,
    ctx: CallContext,
    limit: asyncio.Semaphore | None = None,
    prefetched: Mapping[tuple[str, int], LLMCacheRow] | None = None,
) -> list[CandidateDraft]:
    """K separate calls at the same temperature (bounded by `limit` calls in flight)."""
    prompt = candidate_prompt(policy_name, clauses, turns, temperature)

    async def one(i: int) -> CandidateDraft:
        answer = await ask(svc, prompt, parse_single, ctx, sample=i, limit=limit, prefetched=prefetched)
        return _draft(answer, answer.value, INDEPENDENT, prompt, CANDIDATE_PROMPT_VERSION, k, sample=i)

    results = await asyncio.gather(*(one(i) for i in range(k)), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return [r for r in results if isinstance(r, CandidateDraft)]


def cache_keys(
    method: str, policy_name: str, clauses: Sequence[ClauseText], turns: Sequence[Turn], k: int, temperature: float, model: str
) -> list[tuple[str, int]]:
    """The (prompt hash, sample) keys `sample` will look up, so a batch can prefetch them at once."""
    if method == INDEPENDENT:
        digest = prompt_hash(candidate_prompt(policy_name, clauses, turns, temperature), model)
        return [(digest, i) for i in range(k)]
    return [(prompt_hash(nc_prompt(policy_name, clauses, turns, k, temperature), model), 0)]


SAMPLERS = {NEGATIVELY_CORRELATED: sample_negatively_correlated, INDEPENDENT: sample_independent}


async def sample(
    svc: Services,
    method: str,
    policy_name: str,
    clauses: Sequence[ClauseText],
    turns: Sequence[Turn],
    k: int,
    *,
    temperature: float,
    ctx: CallContext,
    limit: asyncio.Semaphore | None = None,
    prefetched: Mapping[tuple[str, int], LLMCacheRow] | None = None,
) -> list[CandidateDraft]:
    sampler = SAMPLERS.get(method)
    if sampler is None:
        raise ValueError(f"unknown sampling method {method!r}; use one of {', '.join(METHODS)}")
    return await sampler(
        svc, policy_name, clauses, turns, k, temperature=temperature, ctx=ctx, limit=limit, prefetched=prefetched
    )
