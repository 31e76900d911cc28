"""Every model request the core makes goes through `ask`: our own answer cache (keyed by the
prompt hash and a sample index, so a retried round re-uses answers, also after a restart), a log
line per request with tokens, latency and cost, and validation of the answer, with the request
repeated when the answer is malformed. Only validated answers are cached; a malformed answer is
never posted.

No transaction is open while the model is called. Log lines and cached answers are appended by
the group-commit writer (storage/batching.py), so a burst of answers costs one transaction."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import jsonschema
from sqlalchemy import delete
from sqlmodel import col, func, select

from bot.domain.bounds import storable_text
from bot.domain.model import ERASED_AUTHOR
from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.generation.prompts import prompt_hash
from bot.ports import Completion, OutputSchema, Prompt
from bot.services import Services
from storage.batching import NewRow
from storage.tables import LLMCacheRow, LLMCallRow, PromptAuthorRow

log = logging.getLogger("policybot.calls")

T = TypeVar("T")
MALFORMED_ATTEMPTS = 3  # one request and two repeats when the answer cannot be used


class Malformed(ValueError):
    """The model answered, but not in the form asked for (wrong count, empty, not JSON, …)."""


class TooLong(Malformed):
    """The answer is usable but longer than POLICYBOT_MAX_RESPONSE_CHARS: asked again; on the last
    attempt (and from the cache) `cut`, the answer cut at a sentence with a visible note, is taken."""

    def __init__(self, reason: str, cut: object) -> None:
        super().__init__(reason)
        self.cut = cut


RAW_LIMIT_FACTOR = 12  # a raw answer longer than this many times the response limit is not cached
ERASED_MEANWHILE = "a member whose words the request carried erased their data meanwhile; nothing of the answer is kept"


def cut_at_sentence(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters; otherwise cut at the last sentence (or line, or word)
    that fits, with a note saying so, all within `limit`."""
    if len(text) <= limit:
        return text
    note = f"\n\n[Cut by policybot: the model's answer was {len(text):,} characters long, over the limit of {limit:,}.]"
    room = max(1, limit - len(note))
    window = text[:room]
    ends = [window.rfind(sep) for sep in (". ", "! ", "? ", ".\n", "\n")]
    at = max(ends)
    if at < room // 2:
        at = window.rfind(" ")
    head = window[: at + 1] if at >= room // 2 else window
    return head.rstrip() + note


def check_length(text: str, limit: int, what: str) -> str:
    """`text`, or TooLong carrying it cut at a sentence."""
    if len(text) > limit:
        raise TooLong(f"{what} is {len(text):,} characters long; the limit is {limit:,}", cut_at_sentence(text, limit))
    return text


# ---------------------------------------------------------------- structured (JSON) answers

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_REFUSAL = re.compile(
    r"^\s*(?:(?:i'm|i am)\s+)?(?:sorry|unable|not able)\b|^\s*i\s+(?:can(?:no|')t|won't|will not)\b", re.IGNORECASE
)


def load_json(text: str) -> object:
    """JSON from a model answer, tolerating a ```json fence or words around it. Its strings are made
    storable too: a \\u0000 or a lone \\ud83d escape inside the JSON becomes text only after decoding."""
    m = _FENCE.match(text)
    body = m.group(1) if m else text.strip()
    try:
        return _storable(json.loads(body))
    except json.JSONDecodeError:
        start, end = body.find("{"), body.rfind("}")
        if 0 <= start < end:
            try:
                return _storable(json.loads(body[start : end + 1]))
            except json.JSONDecodeError:
                pass
    raise Malformed("the answer is not JSON" + (" (it reads like a refusal)" if _REFUSAL.match(body) else ""))


def _storable(data: object) -> object:
    if isinstance(data, str):
        return storable_text(data)
    if isinstance(data, list):
        return [_storable(x) for x in data]
    if isinstance(data, dict):
        return {storable_text(str(k)): _storable(v) for k, v in data.items()}
    return data


def _schema_error(error: jsonschema.ValidationError) -> str:
    """A schema violation in words, without quoting the (possibly huge) answer back."""
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    if error.validator in ("minItems", "maxItems") and isinstance(error.instance, list):
        bound = "at least" if error.validator == "minItems" else "at most"
        return f"expected {bound} {error.validator_value} items at {where}, got {len(error.instance)}"
    if error.validator == "type":
        return f"expected {error.validator_value} at {where}, got {type(error.instance).__name__}"
    return f"at {where}: {error.message[:200]}"


@dataclass(frozen=True, slots=True)
class Structured:
    """A JSON answer's schema, used twice: sent with the request (litellm's response_format, where the
    provider supports it) and checked on the answer with jsonschema, whichever way it was produced.
    Any feature whose model answer is JSON asks through `ask_structured` with one of these."""

    name: str
    schema: Mapping[str, Any]

    def output(self) -> OutputSchema:
        return OutputSchema(self.name, json.dumps(self.schema, sort_keys=True))

    def validate(self, text: str) -> Any:
        data = load_json(text)
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(self.schema).iter_errors(data))
        if error is not None:
            raise Malformed(f"the answer does not follow its schema: {_schema_error(error)}")
        return data

    def parser(self, build: Callable[[Any], T]) -> Callable[[str], T]:
        """A parse function for `ask`: the answer validated, then built into its value."""
        return lambda text: build(self.validate(text))


@dataclass(frozen=True, slots=True)
class CallContext:
    community: str
    round_id: int | None
    purpose: str
    # members whose words the request carries (her scenario, amendment, reasons, response): kept by
    # prompt hash before the request goes out, so erasure finds its cached answer and log lines
    authors: tuple[str, ...] = ()


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


def _members(ctx: CallContext) -> set[str]:
    return {m for m in ctx.authors if m and m != ERASED_AUTHOR}


async def _authors(svc: Services, ctx: CallContext, digest: str) -> None:
    """Whose words the request carries, committed before it is sent (an erasure meanwhile sees it)."""
    members = sorted(_members(ctx))
    if members:
        unique = ("community", "member", "prompt_hash")
        values = [{"community": ctx.community, "member": m, "prompt_hash": digest} for m in members]
        rows = [NewRow(PromptAuthorRow, v, unique) for v in values]
        await svc.appender.append(*rows)


async def _erased_meanwhile(svc: Services, ctx: CallContext, digest: str) -> bool:
    """Whether a member whose words the request carried erased her data while it was answered (her
    erasure deleted the rows `_authors` wrote): then nothing of the answer may be kept."""
    members = _members(ctx)
    if not members:
        return False
    P = PromptAuthorRow
    async with svc.uow() as uow:
        mine = (col(P.community) == ctx.community, col(P.prompt_hash) == digest, col(P.member).in_(members))
        return int((await uow.session.exec(select(func.count()).where(*mine))).one()) < len(members)


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
    log_row = _log_row(svc, ctx, digest, sample, done.model, "ok", latency_ms=done.latency_ms, **usage)
    if len(done.text) > svc.options.max_response_chars * RAW_LIMIT_FACTOR:  # answered, used, but not kept
        log.warning("answer %s/%s is %d characters long: used, not cached", digest[:12], sample, len(done.text))
        await svc.appender.append(log_row)
        return
    answer = NewRow(
        LLMCacheRow,
        {"prompt_hash": digest, "sample": sample, "model": done.model[:200], "text": done.text, "created_at": svc.now(), **usage},
        unique=("prompt_hash", "sample"),
    )
    await svc.appender.append(log_row, answer)


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

    Every answer is made storable on arrival (NFC, no NUL, no lone surrogates) before it is parsed
    or cached. Raises GeneratorUnavailable when the model cannot be reached, GeneratorFailed when it
    failed after the generator's retries or answered malformed `attempts` times (the reason is kept).
    `prefetched`: the cache already looked up for this batch (see `prefetch`); no query then."""
    model = svc.generator.model
    digest = prompt_hash(prompt, model)
    await _authors(svc, ctx, digest)
    if use_cache:
        hit = prefetched.get((digest, sample)) if prefetched is not None else await cached_text(svc, digest, sample)
        if hit is not None:
            found = _from_cache(hit, parse, digest, sample)
            if found is not None:
                await _log(svc, ctx, digest, sample, hit.model, "cached")
                return Answer(found[0], found[1], storable_text(hit.model)[:200], digest, True)
    reason = ""
    for attempt in range(attempts):
        done = await _complete(svc, prompt, ctx, digest, sample, limit)
        usage: dict[str, object] = {
            "prompt_tokens": done.prompt_tokens,
            "completion_tokens": done.completion_tokens,
            "latency_ms": done.latency_ms,
            "cost_usd": done.cost_usd,
        }
        try:
            value = parse(done.text)
        except TooLong as e:
            if attempt + 1 < attempts:
                reason = str(e)
                await _log(
                    svc, ctx, digest, sample, done.model, "malformed", detail=f"attempt {attempt + 1}: {reason}"[:2000], **usage
                )
                continue
            value = e.cut  # type: ignore[assignment]  # asked again already: take it, cut at a sentence with a note
        except Malformed as e:
            reason = str(e)
            await _log(
                svc, ctx, digest, sample, done.model, "malformed", detail=f"attempt {attempt + 1}: {reason}"[:2000], **usage
            )
            continue
        if await _erased_meanwhile(svc, ctx, digest):
            await _log(svc, ctx, "", sample, done.model, "failed", detail=ERASED_MEANWHILE, **usage)
            raise GeneratorFailed(model, ERASED_MEANWHILE)
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


def _from_cache(hit: LLMCacheRow, parse: Callable[[str], T], digest: str, sample: int) -> tuple[T, str] | None:
    """A cached answer, parsed (made storable first: an entry cached before that rule is cleaned on
    the way out); None if it no longer parses."""
    text = storable_text(hit.text)
    try:
        return parse(text), text
    except TooLong as e:  # it was taken cut when it arrived
        return e.cut, text  # type: ignore[return-value]
    except Malformed:
        log.warning("cached answer %s/%s no longer parses; asking again", digest[:12], sample)
        return None


async def _complete(
    svc: Services, prompt: Prompt, ctx: CallContext, digest: str, sample: int, limit: asyncio.Semaphore | None
) -> Completion:
    """One request to the model, its failures logged; the answer made storable on arrival."""
    model = svc.generator.model
    started = asyncio.get_running_loop().time()
    try:
        if limit is not None:
            async with limit:
                done = await svc.generator.complete(prompt)
        else:
            done = await svc.generator.complete(prompt)
    except GeneratorUnavailable as e:
        await _log(svc, ctx, digest, sample, model, "unavailable", detail=storable_text(e.detail)[:2000])
        raise
    except GeneratorFailed as e:
        spent = (asyncio.get_running_loop().time() - started) * 1000
        await _log(svc, ctx, digest, sample, model, "failed", detail=storable_text(e.detail)[:2000], latency_ms=spent)
        raise
    return dataclasses.replace(done, text=storable_text(done.text), model=storable_text(done.model)[:200] or model[:200])


async def ask_structured(
    svc: Services,
    prompt: Prompt,
    structured: Structured,
    build: Callable[[Any], T],
    ctx: CallContext,
    **kw: Any,
) -> Answer[T]:
    """`ask` for a JSON answer: the schema travels with the request and checks the answer."""
    return await ask(svc, dataclasses.replace(prompt, schema=structured.output()), structured.parser(build), ctx, **kw)


async def forget(svc: Services, digests: Iterable[str]) -> None:
    """Drop cached answers (for example those whose results could not be stored), so they are asked again."""
    wanted = set(digests)
    if not wanted:
        return
    try:
        async with svc.uow() as uow:
            await uow.session.exec(delete(LLMCacheRow).where(col(LLMCacheRow.prompt_hash).in_(wanted)))
            await uow.commit()
    except Exception:
        log.warning("could not drop %d cached answer(s)", len(wanted), exc_info=True)


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
