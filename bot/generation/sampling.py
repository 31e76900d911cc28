"""Sampling K candidate responses for one scenario under one policy, through the Generator port.

Two methods (POLICYBOT_SAMPLING):
- "negatively-correlated" (default): one request asks for K responses that differ deliberately
  (stances, values, caution), answered as JSON and split into K candidates. Independent samples of
  one model are too alike to show where people disagree (Community Alignment, Zhang et al. 2025).
- "independent": K separate requests at the same temperature (sample index 0…K-1 in the cache key).

Either way each candidate records its method, model, temperature, prompt version and prompt hash."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain.model import ClauseText, Turn
from bot.generation.calls import (
    Answer,
    CallContext,
    Malformed,
    Structured,
    TooLong,
    ask,
    check_length,
    cut_at_sentence,
    load_json,
)
from bot.generation.prompts import CANDIDATE_PROMPT_VERSION, NC_PROMPT_VERSION, candidate_prompt, nc_prompt, prompt_hash
from bot.ports import Prompt
from bot.services import Services
from storage.tables import LLMCacheRow

INDEPENDENT = "independent"
NEGATIVELY_CORRELATED = "negatively-correlated"
METHODS = (NEGATIVELY_CORRELATED, INDEPENDENT)
MAX_RESPONSE_CHARS = 4000  # POLICYBOT_MAX_RESPONSE_CHARS's default; the engine passes its setting


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


def json_items(data: object, key: str) -> list[object]:
    """The list under `key` of a JSON answer (already loaded), or the answer itself if it is a list."""
    items = data.get(key) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise Malformed(f'the answer has no list under "{key}"')
    return items


def responses_schema(k: int) -> Structured:
    item = {
        "type": "object",
        "properties": {"stance": {"type": "string"}, "text": {"type": "string", "minLength": 1}},
        "required": ["text"],
    }
    array = {"type": "array", "items": item, "minItems": k, "maxItems": k}
    return Structured("candidate_responses", {"type": "object", "properties": {"responses": array}, "required": ["responses"]})


def responses_from(data: object, k: int, limit: int = MAX_RESPONSE_CHARS) -> list[tuple[str, str]]:
    """(stance, text) × exactly K, each non-empty and all different; else Malformed. A text over
    `limit` characters: TooLong, carrying every response cut at a sentence."""
    items = json_items(data, "responses")
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
    long = [i for i, (_, b) in enumerate(out, 1) if len(b) > limit]
    if long:
        cut = [(stance, cut_at_sentence(b, limit)) for stance, b in out]
        raise TooLong(f"response {long[0]} is {len(out[long[0] - 1][1]):,} characters long; the limit is {limit:,}", cut)
    return out


def parse_responses(text: str, k: int, limit: int = MAX_RESPONSE_CHARS) -> list[tuple[str, str]]:
    return responses_from(load_json(text), k, limit)


def parse_single(text: str, limit: int = MAX_RESPONSE_CHARS) -> str:
    body = text.strip()
    if not body:
        raise Malformed("the response is empty")
    return check_length(body, limit, "the response")


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
    prompt = structured_nc_prompt(policy_name, clauses, turns, k, temperature)
    bound = svc.options.max_response_chars
    answer: Answer[list[tuple[str, str]]] = await ask(
        svc,
        prompt,
        responses_schema(k).parser(lambda data: responses_from(data, k, bound)),
        ctx,
        limit=limit,
        prefetched=prefetched,
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
        bound = svc.options.max_response_chars
        answer = await ask(svc, prompt, lambda t: parse_single(t, bound), ctx, sample=i, limit=limit, prefetched=prefetched)
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
    return [(prompt_hash(structured_nc_prompt(policy_name, clauses, turns, k, temperature), model), 0)]


def structured_nc_prompt(
    policy_name: str, clauses: Sequence[ClauseText], turns: Sequence[Turn], k: int, temperature: float
) -> Prompt:
    """The negatively-correlated request with its answer's schema (the prompt's format line stays)."""
    return dataclasses.replace(nc_prompt(policy_name, clauses, turns, k, temperature), schema=responses_schema(k).output())


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
