"""The litellm-backed Generator and Embedder over real HTTP against the local server."""

from __future__ import annotations

import pytest

from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.llm.litellm import LiteLLMEmbedder, LiteLLMGenerator
from bot.ports import Message, Prompt
from tests.support.openai_server import Behaviour, FakeOpenAIServer

PROMPT = Prompt((Message("system", "Be brief."), Message("user", "Hello?")), temperature=0.3, max_tokens=50)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")


async def test_answer_with_usage(openai_server: FakeOpenAIServer) -> None:
    gen = LiteLLMGenerator("openai/test-model", api_base=openai_server.api_base, retries=0)
    done = await gen.complete(PROMPT)
    assert done.text == "Answer 1 to: Hello?" and done.model == "test-model"
    assert (done.prompt_tokens, done.completion_tokens) == (20, 10) and done.latency_ms > 0
    assert done.cost_usd is None  # litellm knows no price for a local model name: unknown, not free
    (body,) = openai_server.requests
    assert body["temperature"] == 0.3 and body["max_tokens"] == 50 and "n" not in body
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]


async def test_a_priced_model_reports_what_its_tokens_cost(openai_server: FakeOpenAIServer) -> None:
    """litellm's own price of the answer (20 prompt and 10 completion tokens at gpt-4o-mini's rates)."""
    import litellm

    gen = LiteLLMGenerator("openai/gpt-4o-mini", api_base=openai_server.api_base, retries=0)
    done = await gen.complete(PROMPT)
    info = litellm.get_model_info(model="openai/gpt-4o-mini")
    expected = 20 * (info["input_cost_per_token"] or 0.0) + 10 * (info["output_cost_per_token"] or 0.0)
    assert expected > 0
    assert done.cost_usd is not None and done.cost_usd == pytest.approx(expected)


async def test_server_errors_are_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.behaviour = Behaviour(status=500, fail_times=2)
    gen = LiteLLMGenerator("openai/test-model", api_base=openai_server.api_base, retries=2)
    done = await gen.complete(PROMPT)
    assert len(openai_server.requests) == 3 and done.text.startswith("Answer 3")


async def test_failure_after_retries(openai_server: FakeOpenAIServer) -> None:
    openai_server.behaviour = Behaviour(status=503)
    gen = LiteLLMGenerator("openai/test-model", api_base=openai_server.api_base, retries=1)
    with pytest.raises(GeneratorFailed, match="failed after 2 attempt"):
        await gen.complete(PROMPT)
    assert len(openai_server.requests) == 2


async def test_empty_answer_is_a_failure(openai_server: FakeOpenAIServer) -> None:
    openai_server.behaviour = Behaviour(empty=True)
    gen = LiteLLMGenerator("openai/test-model", api_base=openai_server.api_base, retries=0)
    with pytest.raises(GeneratorFailed, match="no text"):
        await gen.complete(PROMPT)


async def test_unreachable_and_fallback(openai_server: FakeOpenAIServer) -> None:
    dead = "http://127.0.0.1:9/v1"
    with pytest.raises(GeneratorUnavailable, match="cannot connect"):
        await LiteLLMGenerator("openai/test-model", api_base=dead, retries=0).complete(PROMPT)
    gen = LiteLLMGenerator(
        "openai/test-model", api_base=dead, retries=0, fallback_model="openai/spare", fallback_api_base=openai_server.api_base
    )
    done = await gen.complete(PROMPT)
    assert done.model == "spare" and done.extra.get("fallback") == "true"
    assert [r["model"] for r in openai_server.requests] == ["spare"]


async def test_calls_in_flight_are_bounded(openai_server: FakeOpenAIServer) -> None:
    import asyncio

    openai_server.behaviour = Behaviour(latency=0.2)
    gen = LiteLLMGenerator("openai/test-model", api_base=openai_server.api_base, retries=0, concurrency=2)
    await asyncio.gather(*(gen.complete(PROMPT) for _ in range(6)))
    assert openai_server.max_in_flight == 2 and len(openai_server.requests) == 6


async def test_embeddings(openai_server: FakeOpenAIServer) -> None:
    emb = LiteLLMEmbedder("openai/embedder", api_base=openai_server.api_base)
    vectors = await emb.embed(["a b", "c d e"])
    assert len(vectors) == 2 and all(len(v) == 16 for v in vectors) and sum(vectors[1]) == 3.0
