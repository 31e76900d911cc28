"""Every model request the core makes goes through `ask`: our own answer cache (keyed by the
prompt hash and a sample index, so a retried round re-uses answers, also after a restart), a log
line per request with tokens, latency and cost, and validation of the answer, with the request
repeated when the answer is malformed. Only validated answers are cached; a malformed answer is
never posted.

No transaction is open while the model is called. Log lines and cached answers are appended by
the group-commit writer (storage/batching.py), so a burst of answers costs one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlmodel import col, select

from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.generation.prompts import prompt_hash
from bot.ports import Completion, Prompt
from bot.services import Services
from storage.batching import NewRow
from storage.tables import LLMCacheRow, LLMCallRow

log = logging.getLogger("policybot.calls")

T = TypeVar("T")
MALFORMED_ATTEMPTS = 3  # one request and two repeats when the answer cannot be used


class Malformed(ValueError):
    """The model answered, but not in the form asked for (wrong count, empty, not JSON, …)."""


@dataclass(frozen=True, slots=True)
class CallContext:
    community: str
    round_id: int | None
    purpose: str


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    value: T
    text: str
    model: str
    prompt_hash: str
    cached: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float | None = None


def call_limit(svc: Services) -> asyncio.Semaphore | None:
    """The bound on calls in flight the core should apply: none when the generator bounds its own
    (LiteLLMGenerator does, with POLICYBOT_LLM_CONCURRENCY, in the LLM child process or on its
    worker loop), since a second
    bound here would make every queued call wait for this loop to notice a finished one first."""
    generator = getattr(svc.generator, "inner", svc.generator)  # seen through OffloadedGenerator
    own = getattr(generator, "calls_in_flight_limit", None)
    if isinstance(own, int) and own <= svc.options.llm_concurrency:
        return None
    return asyncio.Semaphore(svc.options.llm_concurrency)


def _log_row(svc: Services, ctx: CallContext, digest: str, sample: int, model: str, outcome: str, **kw: object) -> NewRow:
    values: dict[str, object] = {
        "community": ctx.community,
        "round_id": ctx.round_id,
        "purpose": ctx.purpose[:32],
        "model": model[:200],
        "prompt_hash": digest,
        "sample": sample,
        "outcome": outcome,
        "detail": "",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "latency_ms": 0.0,
        "cost_usd": None,
        "at": svc.now(),
    }
    values.update(kw)
    return NewRow(LLMCallRow, values)


async def _log(svc: Services, ctx: CallContext, digest: str, sample: int, model: str, outcome: str, **kw: object) -> None:
    await svc.appender.append(_log_row(svc, ctx, digest, sample, model, outcome, **kw))


async def cached_text(svc: Services, digest: str, sample: int) -> LLMCacheRow | None:
    async with svc.uow() as uow:
        return (
            await uow.session.exec(select(LLMCacheRow).where(LLMCacheRow.prompt_hash == digest, LLMCacheRow.sample == sample))
        ).first()


async def _store(svc: Services, ctx: CallContext, digest: str, sample: int, done: Completion) -> None:
    """The call's log line and the validated answer, committed together (with the other answers of
    a burst). Two identical requests answered at once: the first answer stays in the cache."""
    usage = {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "cost_usd": done.cost_usd,
    }
    answer = NewRow(
        LLMCacheRow,
        {"prompt_hash": digest, "sample": sample, "model": done.model[:200], "text": done.text, "created_at": svc.now(), **usage},
        unique=("prompt_hash", "sample"),
    )
    await svc.appender.append(_log_row(svc, ctx, digest, sample, done.model, "ok", latency_ms=done.latency_ms, **usage), answer)


async def prefetch(svc: Services, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], LLMCacheRow]:
    """Cached answers for many (prompt hash, sample) keys in one query, before a batch of calls."""
    wanted = set(keys)
    if not wanted:
        return {}
    async with svc.uow() as uow:
        rows = (await uow.session.exec(select(LLMCacheRow).where(col(LLMCacheRow.prompt_hash).in_({h for h, _ in wanted})))).all()
    return {(r.prompt_hash, r.sample): r for r in rows if (r.prompt_hash, r.sample) in wanted}


async def ask(
    svc: Services,
    prompt: Prompt,
    parse: Callable[[str], T],
    ctx: CallContext,
    *,
    sample: int = 0,
    limit: asyncio.Semaphore | None = None,
    attempts: int = MALFORMED_ATTEMPTS,
    use_cache: bool = True,
    prefetched: Mapping[tuple[str, int], LLMCacheRow] | None = None,
) -> Answer[T]:
    """The parsed answer to `prompt` (sample `sample`), from the cache or the model.

    Raises GeneratorUnavailable when the model cannot be reached, GeneratorFailed when it failed
    after the generator's retries or answered malformed `attempts` times (the reason is kept).
    `prefetched`: the cache already looked up for this batch (see `prefetch`); no query then."""
    model = svc.generator.model
    digest = prompt_hash(prompt, model)
    if use_cache:
        hit = prefetched.get((digest, sample)) if prefetched is not None else await cached_text(svc, digest, sample)
        if hit is not None:
            try:
                value = parse(hit.text)
            except Malformed:
                log.warning("cached answer %s/%s no longer parses; asking again", digest[:12], sample)
            else:
                await _log(svc, ctx, digest, sample, hit.model, "cached")
                return Answer(value, hit.text, hit.model, digest, True)
    reason = ""
    for attempt in range(attempts):
        started = asyncio.get_running_loop().time()
        try:
            if limit is not None:
                async with limit:
                    done = await svc.generator.complete(prompt)
            else:
                done = await svc.generator.complete(prompt)
        except GeneratorUnavailable as e:
            await _log(svc, ctx, digest, sample, model, "unavailable", detail=e.detail[:2000])
            raise
        except GeneratorFailed as e:
            spent = (asyncio.get_running_loop().time() - started) * 1000
            await _log(svc, ctx, digest, sample, model, "failed", detail=e.detail[:2000], latency_ms=spent)
            raise
        usage: dict[str, object] = {
            "prompt_tokens": done.prompt_tokens,
            "completion_tokens": done.completion_tokens,
            "latency_ms": done.latency_ms,
            "cost_usd": done.cost_usd,
        }
        try:
            value = parse(done.text)
        except Malformed as e:
            reason = str(e)
            await _log(
                svc, ctx, digest, sample, done.model, "malformed", detail=f"attempt {attempt + 1}: {reason}"[:2000], **usage
            )
            continue
        await _store(svc, ctx, digest, sample, done)
        return Answer(
            value,
            done.text,
            done.model,
            digest,
            False,
            done.prompt_tokens,
            done.completion_tokens,
            done.latency_ms,
            done.cost_usd,
        )
    raise GeneratorFailed(model, f"malformed answer {attempts} time(s): {reason}")


@dataclass(frozen=True, slots=True)
class CallTotals:
    calls: int = 0  # requests sent to the model
    cached: int = 0  # answers served from the cache
    failed: int = 0  # requests that failed or answered malformed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0  # summed over requests
    cost_usd: float | None = None  # None when litellm knew no price for any call

    def describe(self) -> str:
        if not self.calls and not self.cached:
            return "no model calls yet"
        cost = f"${self.cost_usd:.4f}" if self.cost_usd is not None else "cost unknown"
        mean = self.latency_ms / self.calls if self.calls else 0.0
        return (
            f"{self.calls} call(s) ({self.failed} failed or malformed), {self.cached} cache hit(s), "
            f"{self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion tokens, {cost}, "
            f"mean latency {mean / 1000:.2f} s"
        )


async def round_totals(svc: Services, round_id: int) -> CallTotals:
    async with svc.uow() as uow:
        rows = (await uow.session.exec(select(LLMCallRow).where(LLMCallRow.round_id == round_id))).all()
    calls = cached = failed = pt = ct = 0
    latency = 0.0
    cost: float | None = None
    for row in rows:
        if row.outcome == "cached":
            cached += 1
            continue
        if row.outcome == "unavailable":  # no answer came back: nothing spent
            failed += 1
            continue
        calls += 1
        failed += row.outcome in ("failed", "malformed")
        pt += row.prompt_tokens
        ct += row.completion_tokens
        latency += row.latency_ms
        if row.cost_usd is not None:
            cost = (cost or 0.0) + row.cost_usd
    return CallTotals(calls, cached, failed, pt, ct, latency, cost)
