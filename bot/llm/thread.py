"""Running the Generator on its own thread and event loop.

litellm spends a few milliseconds of CPU per call (request building, response parsing, logging);
forty calls at once stall an event loop for tens of milliseconds, which is what members feel as a
slow acknowledgement. Behind this wrapper those calls run on a worker loop, and the interpreter's
thread switching (every 5 ms) keeps the main loop answering. This is POLICYBOT_LLM_WORKER=thread;
the default, a child process (bot/llm/process.py), also takes that CPU off the interpreter lock."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from bot.ports import Completion, Generator, Prompt

T = TypeVar("T")


class WorkerLoop:
    """A daemon thread running an event loop; started on first use, stopped by close()."""

    def __init__(self, name: str = "policybot-llm") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            # litellm leaves background tasks (its logging worker) on this loop: end them cleanly
            # so closing does not warn that a pending task was destroyed.
            with contextlib.suppress(TimeoutError, RuntimeError):  # a stuck task must not block shutdown
                asyncio.run_coroutine_threadsafe(_cancel_others(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()


async def _cancel_others() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class OffloadedGenerator:
    """The same Generator port, with every call made on the worker loop."""

    def __init__(self, inner: Generator, worker: WorkerLoop | None = None) -> None:
        self.inner = inner
        self.worker = worker or WorkerLoop()

    @property
    def model(self) -> str:
        return self.inner.model

    async def complete(self, prompt: Prompt) -> Completion:
        return await self.worker.run(self.inner.complete(prompt))

    def close(self) -> None:
        self.worker.close()
