"""The Generator port backed by a litellm Router: any provider litellm knows, or an OpenAI-compatible
(or Ollama) server. The Router gives a per-call timeout, retries with exponential backoff and
jitter, and an optional fallback model; a semaphore bounds the calls in flight.

Deliberately not used: litellm's own cache (it needs extras a plain install lacks) and the `n`
parameter (several providers ignore it); callers make K calls or one K-response call and cache
answers in our own table (bot/generation/calls.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.ports import Completion, OutputSchema, Prompt

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("policybot.llm")

PRIMARY = "policybot-primary"
FALLBACK = "policybot-fallback"


def import_litellm() -> Any:
    # Without this, importing litellm reaches for the network to fetch its model price map.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """Everything litellm is built from (provider keys stay in the environment), whichever process
    it runs in: the bot's (POLICYBOT_LLM_WORKER=thread) or its child (bot/llm/process.py)."""

    model: str
    api_base: str | None = None
    timeout: float = 60.0
    retries: int = 2
    fallback_model: str | None = None
    fallback_api_base: str | None = None
    concurrency: int = 8
    embedding_model: str | None = None
    structured_output: str = "auto"  # "auto" (when litellm says the model supports it), "always", "never"

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMConfig:
        return cls(
            settings.model,
            api_base=settings.llm_api_base,
            timeout=settings.llm_timeout,
            retries=settings.llm_retries,
            fallback_model=settings.fallback_model,
            fallback_api_base=settings.fallback_api_base,
            concurrency=settings.llm_concurrency,
            embedding_model=settings.embedding_model,
            structured_output=settings.structured_output,
        )

    def generator(self) -> LiteLLMGenerator:
        return LiteLLMGenerator(
            self.model,
            api_base=self.api_base,
            timeout=self.timeout,
            retries=self.retries,
            fallback_model=self.fallback_model,
            fallback_api_base=self.fallback_api_base,
            concurrency=self.concurrency,
            structured_output=self.structured_output,
        )

    def embedder(self) -> LiteLLMEmbedder | None:
        if not self.embedding_model:
            return None
        return LiteLLMEmbedder(self.embedding_model, api_base=self.api_base, timeout=self.timeout)


def _params(model: str, api_base: str | None, timeout: float) -> dict[str, Any]:
    params: dict[str, Any] = {"model": model, "timeout": timeout}
    if api_base:
        params["api_base"] = api_base
    return params


class LiteLLMGenerator:
    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        fallback_model: str | None = None,
        fallback_api_base: str | None = None,
        concurrency: int = 8,
        retry_after: float = 0.0,
        structured_output: str = "auto",
    ) -> None:
        self._model = model
        self._api_base = api_base
        self._fallback = fallback_model
        self._timeout = timeout
        self._retries = retries
        self._concurrency = concurrency
        self._limit: asyncio.Semaphore | None = None
        self._litellm = import_litellm()
        self._schemas = structured_output == "always" or (
            structured_output == "auto" and bool(self._litellm.supports_response_schema(model=model))
        )
        self._priced = self._has_price(model)
        self._priced_fallback = bool(fallback_model) and self._has_price(str(fallback_model))
        model_list: list[dict[str, Any]] = [{"model_name": PRIMARY, "litellm_params": _params(model, api_base, timeout)}]
        fallbacks: list[dict[str, list[str]]] = []
        if fallback_model:
            model_list.append(
                {"model_name": FALLBACK, "litellm_params": _params(fallback_model, fallback_api_base or api_base, timeout)}
            )
            fallbacks = [{PRIMARY: [FALLBACK]}]
        self._router = self._litellm.Router(
            model_list=model_list,
            num_retries=retries,
            timeout=timeout,
            fallbacks=fallbacks,
            retry_after=retry_after,  # the minimum backoff; litellm doubles from 0.5 s with jitter
            disable_cooldowns=True,  # one deployment each: never "no deployments available"
            set_verbose=False,
        )

    def _has_price(self, model: str) -> bool:
        """Whether litellm knows what this model's tokens cost (once per generator, not per call)."""
        try:
            info = self._litellm.get_model_info(model=model)
        except Exception:  # litellm raises for a model it has no entry for
            return False
        return bool(info.get("input_cost_per_token") or info.get("output_cost_per_token"))

    @property
    def model(self) -> str:
        return self._model

    @property
    def fallback_model(self) -> str | None:
        return self._fallback

    @property
    def calls_in_flight_limit(self) -> int:
        """This generator never has more calls in flight than this (bot.generation.calls.call_limit reads it)."""
        return self._concurrency

    async def complete(self, prompt: Prompt) -> Completion:
        if self._limit is None:  # created on first use, on the loop that uses it
            self._limit = asyncio.Semaphore(self._concurrency)
        async with self._limit:
            return await self._complete(prompt)

    async def _complete(self, prompt: Prompt) -> Completion:
        exc_mod = self._litellm.exceptions
        unreachable = (
            exc_mod.AuthenticationError,
            exc_mod.NotFoundError,
            exc_mod.PermissionDeniedError,
            exc_mod.BadRequestError,
        )
        started = time.perf_counter()
        structured: dict[str, Any] = {}
        if prompt.schema is not None and self._schemas:  # else the prompt's own format line asks for the JSON
            structured["response_format"] = response_format(prompt.schema)
        try:
            response = await self._router.acompletion(
                model=PRIMARY,
                messages=[{"role": m.role, "content": m.content} for m in prompt.messages],
                temperature=prompt.temperature,
                max_tokens=prompt.max_tokens,
                **structured,
            )
        except Exception as e:  # the Router re-raises the last error once retries and fallback are spent
            if _cannot_connect(e):
                raise GeneratorUnavailable(self._model, "cannot connect" + _where(self._api_base)) from e
            if isinstance(e, unreachable) and not isinstance(e, exc_mod.Timeout):
                raise GeneratorUnavailable(self._model, _short(e)) from e
            tries = self._retries + 1
            extra = f" and the fallback {self._fallback}" if self._fallback else ""
            raise GeneratorFailed(self._model, f"failed after {tries} attempt(s){extra}: {_short(e)}") from e
        return self._completion(response, time.perf_counter() - started)

    def _completion(self, response: Any, seconds: float) -> Completion:
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, KeyError):
            text = None
        if not isinstance(text, str) or not text.strip():
            raise GeneratorFailed(self._model, "the model returned no text")
        usage = getattr(response, "usage", None)
        answered_by = getattr(response, "model", None) or self._model
        hidden = getattr(response, "_hidden_params", None) or {}
        deployment = str(hidden.get("litellm_model_name") or hidden.get("model_id") or "")
        extra = {"deployment": deployment} if deployment else {}
        by_fallback = bool(self._fallback) and str(self._fallback).split("/")[-1] in (answered_by, deployment.split("/")[-1])
        if by_fallback:
            extra["fallback"] = "true"
        # litellm prices every answer as it arrives; asking it again (completion_cost) costs a few ms of
        # CPU per call, and much more for a model it has no price for (it raises): read its figure,
        # which it gives as 0.0 for a model it cannot price, so only a priced model's figure counts
        priced = self._priced_fallback if by_fallback else self._priced
        raw_cost = hidden.get("response_cost")
        cost = float(raw_cost) if priced and isinstance(raw_cost, int | float) else None
        return Completion(
            text=text,
            model=answered_by,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            latency_ms=seconds * 1000,
            cost_usd=cost,
            extra=extra,
        )


class LiteLLMEmbedder:
    """Embeddings for the diversity figure (bot/generation/diversity.py), through litellm.aembedding."""

    def __init__(self, model: str, *, api_base: str | None = None, timeout: float = 60.0) -> None:
        self._model = model
        self._api_base = api_base
        self._timeout = timeout
        self._litellm = import_litellm()

    @property
    def model(self) -> str:
        return self._model

    async def embed(self, texts: list[str]) -> list[list[float]]:
        kwargs: dict[str, Any] = {"model": self._model, "input": texts, "timeout": self._timeout}
        if self._api_base:
            kwargs["api_base"] = self._api_base
        try:
            response = await self._litellm.aembedding(**kwargs)
        except Exception as e:
            raise GeneratorFailed(self._model, f"embedding failed: {_short(e)}") from e
        rows = sorted(response.data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
        return [list(d["embedding"] if isinstance(d, dict) else d.embedding) for d in rows]


def response_format(schema: OutputSchema) -> dict[str, Any]:
    """litellm's structured-output parameter (OpenAI's json_schema form, which litellm translates for
    the other providers that support one). Not strict: the answer is validated on our side."""
    return {"type": "json_schema", "json_schema": {"name": schema.name, "schema": json.loads(schema.json), "strict": False}}


def _cannot_connect(e: BaseException) -> bool:
    """True when the cause is a failed TCP/DNS connection (not a timeout of a live server)."""
    import httpx

    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, httpx.ConnectError | ConnectionRefusedError) or (
            isinstance(cur, OSError) and not isinstance(cur, TimeoutError) and getattr(cur, "errno", None) is not None
        ):
            return True
        text = str(cur)
        if "Cannot connect to host" in text or "Connection refused" in text or "All connection attempts failed" in text:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _where(api_base: str | None) -> str:
    return f" to {api_base}" if api_base else ""


def _short(e: BaseException) -> str:
    text = str(e).replace("\n", " ")
    return text if len(text) < 300 else text[:297] + "…"
