"""litellm in a child process, behind the Generator and Embedder ports.

litellm spends 3 to 5 ms of CPU on every call (building the request, parsing the response,
pricing it). In the bot's own process that work holds the interpreter lock, so when a batch of
answers lands, the event loop that acknowledges members' reactions waits for it, also when litellm
runs on another thread. In a child process it runs beside the bot instead: the bot only writes a
request line and reads an answer line.

Protocol, one JSON object per line: the parent sends the worker's configuration first, then
`{"id", "op": "complete"|"embed"|"cancel", ...}`; the child answers `{"id", "ok": {...}}` or
`{"id", "error": {"kind": "unavailable"|"failed", "model", "detail"}}`. The child ends when its
standard input closes, so it never outlives the bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from dataclasses import asdict
from typing import Any

from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.llm.litellm import LLMConfig
from bot.ports import Completion, Message, OutputSchema, Prompt

log = logging.getLogger("policybot.llm_process")

LINE_LIMIT = 256 * 1024 * 1024  # an embedding batch answer can be megabytes on one line
STOP_GRACE = 5.0  # seconds the child gets to finish after its input closes
# The child's work is background work: when both want the CPU, members' acknowledgements in the
# bot's process go first (answers arrive a little later; nobody is waiting on a single one).
NICENESS = 10


class WorkerExited(Exception):
    pass


class LLMWorker:
    """The parent's side: starts the child on first use (on the running loop), matches answers to
    requests by id, and starts a new child after one exits."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self._proc: asyncio.subprocess.Process | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._starting: asyncio.Lock | None = None

    async def start(self) -> None:
        """Start the child now (optional: the first request starts it too)."""
        await self._ensure()

    async def request(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        proc = await self._ensure()
        self._next_id += 1
        rid = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            assert proc.stdin is not None
            proc.stdin.write(_line({"id": rid, "op": op, **payload}))
            await proc.stdin.drain()
            return await future
        except asyncio.CancelledError:
            if proc.returncode is None and proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.write(_line({"id": rid, "op": "cancel"}))
            raise
        except (BrokenPipeError, ConnectionResetError) as e:
            raise WorkerExited(f"the LLM worker process stopped ({e})") from e
        finally:
            self._pending.pop(rid, None)

    async def _ensure(self) -> asyncio.subprocess.Process:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or an app moved to a new loop (tests): a new child
            self._kill()
            self._loop, self._starting = loop, asyncio.Lock()
        assert self._starting is not None
        async with self._starting:
            if self._proc is None or self._proc.returncode is not None:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot.llm.process",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=LINE_LIMIT,
                )
                assert self._proc.stdin is not None
                self._proc.stdin.write(_line(asdict(self.config)))
                self._reader = loop.create_task(self._read(self._proc), name="llm-worker-reader")
            return self._proc

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                answer = json.loads(line)
            except ValueError:
                log.warning("LLM worker wrote a line that is not JSON: %.200r", line)
                continue
            future = self._pending.get(answer.get("id"))
            if future is not None and not future.done():
                future.set_result(answer)
        code = await proc.wait()
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(WorkerExited(f"the LLM worker process exited with code {code}"))

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if self._reader is not None and self._loop is not None and not self._loop.is_closed():
            self._reader.cancel()
        self._reader = None

    async def aclose(self) -> None:
        """Close the child's input and wait for it to end (killed after a grace period)."""
        proc = self._proc
        if proc is None or self._loop is not asyncio.get_running_loop():
            self._kill()
            return
        if proc.returncode is None and proc.stdin is not None:
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()  # killed: return only once it has ended, never while it is still dying
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._proc = self._reader = None

    def close(self) -> None:
        self._kill()


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _raise(model: str, answer: dict[str, Any]) -> dict[str, Any]:
    if "ok" in answer:
        ok: dict[str, Any] = answer["ok"]
        return ok
    error = answer.get("error") or {}
    kind, detail = error.get("kind"), str(error.get("detail", "no detail"))
    if kind == "unavailable":
        raise GeneratorUnavailable(str(error.get("model", model)), detail)
    raise GeneratorFailed(str(error.get("model", model)), detail)


class ProcessGenerator:
    """The Generator port, answered by the child's LiteLLMGenerator."""

    def __init__(self, worker: LLMWorker) -> None:
        self.worker = worker

    @property
    def model(self) -> str:
        return self.worker.config.model

    @property
    def calls_in_flight_limit(self) -> int:
        """The child bounds its own calls in flight (bot.generation.calls.call_limit reads this)."""
        return self.worker.config.concurrency

    async def complete(self, prompt: Prompt) -> Completion:
        payload = {
            "messages": [[m.role, m.content] for m in prompt.messages],
            "temperature": prompt.temperature,
            "max_tokens": prompt.max_tokens,
            "purpose": prompt.purpose,
            "schema": [prompt.schema.name, prompt.schema.json] if prompt.schema is not None else None,
        }
        try:
            answer = await self.worker.request("complete", payload)
        except WorkerExited as e:
            raise GeneratorUnavailable(self.model, str(e)) from e
        ok = _raise(self.model, answer)
        return Completion(**ok)

    async def aclose(self) -> None:
        await self.worker.aclose()

    def close(self) -> None:
        self.worker.close()


class ProcessEmbedder:
    """The Embedder port, answered by the child's LiteLLMEmbedder."""

    def __init__(self, worker: LLMWorker) -> None:
        if not worker.config.embedding_model:
            raise ValueError("the worker has no embedding model configured")
        self.worker = worker

    @property
    def model(self) -> str:
        return self.worker.config.embedding_model or ""

    async def embed(self, texts: list[str]) -> list[list[float]]:
        try:
            answer = await self.worker.request("embed", {"texts": texts})
        except WorkerExited as e:
            raise GeneratorFailed(self.model, str(e)) from e
        vectors: list[list[float]] = _raise(self.model, answer)["vectors"]
        return vectors


# ---------------------------------------------------------------- the child


class _Child:
    """The child's side: answers requests as they come, each in its own task, on one event loop."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.ready = asyncio.Event()
        self.config: LLMConfig | None = None
        self.generator: Any = None
        self.embedder: Any = None

    async def build(self, config: LLMConfig) -> None:
        """Import litellm and build the generator on a thread: meanwhile the loop reads the input,
        so a parent that closes it during start-up is noticed at once."""
        self.config = config
        self.generator, self.embedder = await asyncio.get_running_loop().run_in_executor(
            None, lambda: (config.generator(), config.embedder())
        )
        self.ready.set()

    async def _result(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.config is not None
        await self.ready.wait()
        if request["op"] == "complete":
            prompt = prompt_from_payload(request)
            return {"ok": asdict(await self.generator.complete(prompt))}
        if request["op"] == "embed" and self.embedder is not None:
            return {"ok": {"vectors": await self.embedder.embed(request["texts"])}}
        return {"error": {"kind": "failed", "model": self.config.model, "detail": f"unknown request {request['op']!r}"}}

    async def answer(self, rid: int, request: dict[str, Any]) -> None:
        model = self.config.model if self.config else ""
        try:
            result = await self._result(request)
        except GeneratorUnavailable as e:
            result = {"error": {"kind": "unavailable", "model": e.model, "detail": e.detail}}
        except GeneratorFailed as e:
            result = {"error": {"kind": "failed", "model": e.model, "detail": e.detail}}
        except asyncio.CancelledError:
            return
        except Exception as e:  # never leave the parent waiting: any failure is an answer
            log.exception("LLM worker request failed")
            result = {"error": {"kind": "failed", "model": model, "detail": f"{type(e).__name__}: {e}"[:500]}}
        finally:
            self.tasks.pop(rid, None)
        self.out.write(_line({"id": rid, **result}))

    def take(self, request: dict[str, Any]) -> None:
        rid = int(request["id"])
        if request.get("op") == "cancel":
            task = self.tasks.get(rid)
            if task is not None:
                task.cancel()
            return
        self.tasks[rid] = asyncio.get_running_loop().create_task(self.answer(rid, request))


async def _serve() -> None:
    with contextlib.suppress(OSError):  # not permitted in some sandboxes: then the same priority
        os.nice(NICENESS)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    # Our answers go to the original stdout; anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    first = await reader.readline()
    if not first:
        return
    child = _Child(out)
    building = loop.create_task(child.build(LLMConfig(**json.loads(first))))
    while line := await reader.readline():
        child.take(json.loads(line))
    if not child.tasks and not building.done():
        # input closed while litellm was still being imported, with nothing asked: end now, without
        # waiting for the import thread (asyncio.run would join it)
        out.flush()
        os._exit(0)
    if child.tasks:  # input closed: finish what was asked, briefly
        await asyncio.wait(list(child.tasks.values()), timeout=STOP_GRACE)
    await building


def prompt_from_payload(request: dict[str, Any]) -> Prompt:
    schema = request.get("schema")
    return Prompt(
        tuple(Message(role, content) for role, content in request["messages"]),
        temperature=request["temperature"],
        max_tokens=request["max_tokens"],
        purpose=request["purpose"],
        schema=OutputSchema(schema[0], schema[1]) if schema else None,
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # into the bot's own standard error
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
