"""litellm in its child process (bot/llm/process.py), over real HTTP against the local server: the
same answers and errors as in-process, a child that dies, a cancelled call, and the whole round as
bootstrap() builds it by default. Each test starts a real child (it imports litellm: ~2 s)."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
from collections.abc import AsyncIterator

import pytest

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.llm.litellm import LLMConfig
from bot.llm.process import LLMWorker, ProcessEmbedder, ProcessGenerator
from bot.ports import Message, Prompt
from storage.database import Database
from tests.generation.conftest import MakeApp, open_round
from tests.support.openai_server import Behaviour, FakeOpenAIServer

PROMPT = Prompt((Message("system", "Be brief."), Message("user", "Hello?")), temperature=0.3, max_tokens=50)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")  # the child inherits the environment


@pytest.fixture
async def worker(openai_server: FakeOpenAIServer) -> AsyncIterator[LLMWorker]:
    w = LLMWorker(LLMConfig("openai/test-model", api_base=openai_server.api_base, retries=0, embedding_model="openai/emb"))
    yield w
    await w.aclose()


def child_pid(w: LLMWorker) -> int:
    proc = w._proc
    assert proc is not None and proc.returncode is None
    return proc.pid


async def test_answers_errors_and_embeddings_cross_the_process(openai_server: FakeOpenAIServer, worker: LLMWorker) -> None:
    gen = ProcessGenerator(worker)
    assert gen.model == "openai/test-model" and gen.calls_in_flight_limit == 8
    done = await gen.complete(PROMPT)
    assert done.text == "Answer 1 to: Hello?" and done.model == "test-model"
    assert (done.prompt_tokens, done.completion_tokens) == (20, 10) and done.latency_ms > 0
    (body,) = openai_server.requests
    assert body["temperature"] == 0.3 and body["max_tokens"] == 50
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
    assert child_pid(worker) != os.getpid()

    # concurrent calls are answered by id, each with its own text
    many = await asyncio.gather(*(gen.complete(Prompt((Message("user", f"q{i}"),))) for i in range(6)))
    assert sorted(d.text.split("to: ")[1] for d in many) == [f"q{i}" for i in range(6)]

    vectors = await ProcessEmbedder(worker).embed(["a", "bb", "ccc"])
    assert len(vectors) == 3 and all(len(v) > 0 and all(isinstance(x, float) for x in v) for v in vectors)

    openai_server.behaviour = Behaviour(status=503)
    with pytest.raises(GeneratorFailed, match="failed after 1 attempt") as failed:
        await gen.complete(PROMPT)
    assert failed.value.model == "openai/test-model"
    openai_server.behaviour = Behaviour(empty=True)
    with pytest.raises(GeneratorFailed, match="no text"):
        await gen.complete(PROMPT)


async def test_an_unreachable_model_is_unavailable_not_failed() -> None:
    w = LLMWorker(LLMConfig("openai/test-model", api_base="http://127.0.0.1:9/v1", retries=0))
    try:
        with pytest.raises(GeneratorUnavailable, match=re.escape("cannot connect to http://127.0.0.1:9/v1")) as e:
            await ProcessGenerator(w).complete(PROMPT)
        assert e.value.model == "openai/test-model"
    finally:
        await w.aclose()


async def test_a_child_that_dies_fails_its_calls_and_is_replaced(openai_server: FakeOpenAIServer, worker: LLMWorker) -> None:
    gen = ProcessGenerator(worker)
    await gen.complete(PROMPT)
    first = child_pid(worker)
    openai_server.behaviour = Behaviour(latency=30)
    pending = asyncio.create_task(gen.complete(PROMPT))
    await openai_server.wait_for(lambda: len(openai_server.requests) == 2)  # the slow request has arrived
    os.kill(first, signal.SIGKILL)
    with pytest.raises(GeneratorUnavailable, match="exited with code -9"):
        await asyncio.wait_for(pending, 10)
    openai_server.behaviour = Behaviour()
    done = await gen.complete(PROMPT)  # a new child answers
    assert done.text.startswith("Answer") and child_pid(worker) != first


async def test_a_cancelled_call_is_cancelled_in_the_child(openai_server: FakeOpenAIServer, worker: LLMWorker) -> None:
    gen = ProcessGenerator(worker)
    openai_server.behaviour = Behaviour(latency=30, slow_times=1)
    slow = asyncio.create_task(gen.complete(PROMPT))
    await openai_server.wait_for(lambda: len(openai_server.requests) == 1)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert not worker._pending
    done = await asyncio.wait_for(gen.complete(PROMPT), 10)  # the child is not stuck behind it
    assert done.text.startswith("Answer 2")
    # the child dropped the HTTP request: the server sees the client hang up
    await openai_server.wait_for(lambda: openai_server.abandoned == 1, limit=10)


async def test_close_ends_the_child(worker: LLMWorker) -> None:
    await worker.start()
    proc = worker._proc
    assert proc is not None
    await worker.aclose()
    assert proc.returncode == 0  # it ends on its own when its input closes, even while still importing litellm
    await worker.aclose()  # twice is harmless


async def test_close_returns_only_once_the_child_has_ended(worker: LLMWorker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that outlives the grace period is killed, and aclose waits for it to be gone."""
    import bot.llm.process as process

    monkeypatch.setattr(process, "STOP_GRACE", 0.0)  # no grace at all: the kill path, every time
    await worker.start()
    proc = worker._proc
    assert proc is not None
    await worker.aclose()
    assert proc.returncode is not None


async def test_a_round_as_bootstrap_builds_it(make_app: MakeApp, mod: Actor, database: Database) -> None:
    """The default (POLICYBOT_LLM_WORKER=process): the round's candidates come through the child."""
    app: App = await make_app(llm_worker="process")
    generator = app.engine.services.generator
    assert isinstance(generator, ProcessGenerator)
    async with app.running():  # as `policybot run …` does: the child is up before the first round
        try:
            assert child_pid(generator.worker) != os.getpid() and gc.get_freeze_count() > 0
        finally:
            gc.unfreeze()  # the rest of the test session collects as usual
        await open_round(app, mod)
        await app.engine.drain()
        status = await app.engine.dispatch(c.RoundStatus(mod, 1))
        assert "REVIEW" in status.text and "8 candidate(s)" in status.text and "2 call(s)" in status.text, status.text
    assert generator.worker._proc is None
