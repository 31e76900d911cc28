"""The Generator on its own worker loop: same answers, errors pass through, clean shutdown."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.errors import GeneratorUnavailable
from bot.llm.thread import OffloadedGenerator
from bot.ports import Completion, Message, Prompt

PROMPT = Prompt((Message("user", "hi"),))


class ThreadRecordingGenerator:
    model = "fake/thread"

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.fail = False
        self.left_behind: list[asyncio.Task[None]] = []

    async def complete(self, prompt: Prompt) -> Completion:
        self.threads.add(threading.current_thread().name)
        # a background task of the kind litellm leaves behind on the loop it runs on
        self.left_behind.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))
        if self.fail:
            raise GeneratorUnavailable(self.model, "connection refused")
        await asyncio.sleep(0.01)
        return Completion(text="ok", model=self.model)


async def test_calls_run_on_the_worker_thread_and_shutdown_is_clean() -> None:
    inner = ThreadRecordingGenerator()
    gen = OffloadedGenerator(inner)
    results = await asyncio.gather(*(gen.complete(PROMPT) for _ in range(5)))
    assert [r.text for r in results] == ["ok"] * 5
    assert inner.threads == {"policybot-llm"}
    assert gen.model == "fake/thread"
    inner.fail = True
    with pytest.raises(GeneratorUnavailable):
        await gen.complete(PROMPT)
    gen.close()
    # what was left on the worker loop was cancelled and finished, not destroyed while pending
    assert inner.left_behind and all(t.done() and t.cancelled() for t in inner.left_behind)
    gen.close()  # closing twice is harmless
    inner.fail = False
    assert (await gen.complete(PROMPT)).text == "ok"  # and a closed worker restarts on use
    gen.close()
