"""The Generator port backed by litellm: any provider litellm knows, or an OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from typing import Any

from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.ports import Completion, Prompt

log = logging.getLogger("policybot.llm")


def import_litellm() -> Any:
    # Without this, importing litellm reaches for the network to fetch its model price map.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


class LiteLLMGenerator:
    def __init__(
        self, model: str, *, api_base: str | None = None, timeout: float = 60.0, retries: int = 2, backoff: float = 0.5
    ) -> None:
        self._model = model
        self._api_base = api_base
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._litellm = import_litellm()

    @property
    def model(self) -> str:
        return self._model

    async def complete(self, prompt: Prompt) -> Completion:
        exc_mod = self._litellm.exceptions
        unreachable = (
            exc_mod.APIConnectionError,
            exc_mod.AuthenticationError,
            exc_mod.NotFoundError,
            exc_mod.PermissionDeniedError,
            exc_mod.BadRequestError,
        )
        transient = (
            exc_mod.Timeout,
            exc_mod.RateLimitError,
            exc_mod.InternalServerError,
            exc_mod.ServiceUnavailableError,
            exc_mod.APIError,
        )
        last: Exception | None = None
        for attempt in range(self._retries + 1):
            started = time.perf_counter()
            try:
                response = await self._litellm.acompletion(
                    model=self._model,
                    messages=[{"role": m.role, "content": m.content} for m in prompt.messages],
                    temperature=prompt.temperature,
                    max_tokens=prompt.max_tokens,
                    api_base=self._api_base,
                    timeout=self._timeout,
                    num_retries=0,
                )
            except exc_mod.Timeout as e:  # a subclass of other errors in litellm: check it first
                last = e
            except unreachable as e:
                raise GeneratorUnavailable(self._model, _short(e)) from e
            except transient as e:
                if _cannot_connect(e):  # litellm reports a refused connection as a server error
                    raise GeneratorUnavailable(self._model, "cannot connect" + _where(self._api_base)) from e
                last = e
            else:
                return self._completion(response, time.perf_counter() - started)
            if attempt < self._retries:
                await asyncio.sleep(self._backoff * (2**attempt) * (0.5 + random.random()))  # noqa: S311  (jitter, not crypto)
        assert last is not None
        raise GeneratorFailed(self._model, f"failed after {self._retries + 1} attempt(s): {_short(last)}")

    def _completion(self, response: Any, seconds: float) -> Completion:
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, KeyError):
            text = None
        if not isinstance(text, str) or not text.strip():
            raise GeneratorFailed(self._model, "the model returned no text")
        usage = getattr(response, "usage", None)
        try:
            cost: float | None = float(self._litellm.completion_cost(completion_response=response))
        except Exception:  # litellm does not know this model's price
            cost = None
        return Completion(
            text=text,
            model=getattr(response, "model", None) or self._model,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            latency_ms=seconds * 1000,
            cost_usd=cost,
        )


def _cannot_connect(e: BaseException) -> bool:
    """True when the cause is a failed TCP/DNS connection (not a timeout of a live server)."""
    import httpx

    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, httpx.ConnectError | ConnectionRefusedError | OSError) and not isinstance(cur, TimeoutError):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _where(api_base: str | None) -> str:
    return f" to {api_base}" if api_base else ""


def _short(e: Exception) -> str:
    text = str(e).replace("\n", " ")
    return text if len(text) < 300 else text[:297] + "…"
