"""A local OpenAI-compatible chat-completions server for testing litellm for real, over HTTP.

Behaviour is set per test: normal, slow, failing with a status, dropping the connection, or
answering malformed bodies. It records every request it receives."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

_MANY = re.compile(r'exactly (\d+) items under "(\w+)"')
_VOICES = (
    "Yes, gladly: here is a direct, complete answer with the practical steps spelled out.",
    "I would rather be careful here; consider the risks first and ask someone qualified.",
    "It depends on your situation, so here are the questions that decide it and the trade-offs.",
    "Briefly: no, and this is why the community's rule points the other way in this case.",
    "Let me reframe the request around what you actually need and suggest a safer alternative.",
    "Here is a neutral summary of the main views people hold, without taking a side.",
    "A playful take: imagine explaining it to a friend over coffee, then decide yourself.",
    "Strictly by the policy text: the relevant clause allows this only with a caveat.",
)


_BLOCK = re.compile(r"<(precedent|answer)>\n(.*?)\n</\1>", re.DOTALL)
_WORD = re.compile(r"[a-z0-9']+")
JUDGE_SCHEMA_NAME = "precedent_judgement"  # bot/generation/precedent_checks.py JUDGE_SCHEMA
UNCLEAR_BELOW = 0.2  # word overlap under which the played judge finds neither kind of answer alike


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _overlap(a: str, b: str) -> float:
    x, y = _words(a), _words(b)
    return len(x & y) / len(x | y) if x | y else 0.0


def is_judge_request(body: dict[str, Any]) -> bool:
    """A precedent judge request: its schema's name, or (a provider without structured output) its blocks."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema" and (fmt.get("json_schema") or {}).get("name") == JUDGE_SCHEMA_NAME:
        return True
    last = str(body["messages"][-1]["content"])
    return "<precedent>" in last and "<answer>" in last


def play_judge(body: dict[str, Any]) -> str | None:
    """A deterministic judge for precedent checks (None for any other request): the new answer is
    "consistent" when its words overlap an endorsed answer's more than any objected answer's,
    "inconsistent" when the other way round, "unclear" when it is alike to neither (overlap under
    UNCLEAR_BELOW) or equally alike to both."""
    if not is_judge_request(body):
        return None
    blocks = {tag: json.loads(text) for tag, text in _BLOCK.findall(str(body["messages"][-1]["content"]))}
    answer = str(blocks["answer"]["text"])
    like = max((_overlap(answer, t) for t in blocks["precedent"]["answers_like_this"]), default=0.0)
    unlike = max((_overlap(answer, t) for t in blocks["precedent"]["not_like_this"]), default=0.0)
    if max(like, unlike) < UNCLEAR_BELOW or like == unlike:
        verdict, why = "unclear", "is alike to neither kind of answer"
    elif like > unlike:
        verdict, why = "consistent", "is closest to an answer the community endorsed"
    else:
        verdict, why = "inconsistent", "is closest to an answer the community objected to"
    return json.dumps({"verdict": verdict, "reason": f"The new answer {why} (word overlap {like:.2f} against {unlike:.2f})."})


def _distinct_item(n: int, i: int) -> dict[str, str]:
    return {"stance": f"stance {i + 1}", "text": f"{_VOICES[i % len(_VOICES)]} (answer {n}.{i + 1})"}


def _from_schema(schema: dict[str, Any], n: int, index: int = 0) -> Any:
    """A value that follows a JSON Schema (the subset our structured answers use), distinct per item."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        return {name: _from_schema(sub, n, index) for name, sub in props.items()}
    if kind == "array":
        count = schema.get("minItems", schema.get("maxItems", 2))
        return [_from_schema(schema.get("items", {}), n, i) for i in range(count)]
    if kind == "integer":
        return 1
    if "enum" in schema:
        return schema["enum"][index % len(schema["enum"])]
    return f"{_VOICES[index % len(_VOICES)]} (answer {n}.{index + 1})"


@dataclass
class Behaviour:
    latency: float = 0.0
    status: int = 200  # answer with this HTTP status (500, 429, 401, …)
    fail_times: int = 0  # the first N requests get `status`, later ones succeed
    malformed: bool = False  # a 200 with a body that is not a chat completion
    empty: bool = False  # a 200 with empty content
    reply: Callable[[dict[str, Any]], str] | None = None  # content for a request
    script: list[str] = field(default_factory=list)  # contents of the first requests, in order (then as usual)
    slow_times: int = 0  # with latency: only the first N requests are slow (a timeout, then a quick answer)
    ignore_schema: bool = False  # answer as if response_format had not been sent (a provider without it)
    # precedent judge requests, answered before `reply` (None: not a judge request); replace it to make the judge fail
    judge: Callable[[dict[str, Any]], str | None] | None = play_judge


@dataclass
class FakeOpenAIServer:
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0
    abandoned: int = 0  # slow requests whose client hung up before the answer (a cancelled call)
    in_flight: int = 0  # requests being answered right now
    max_in_flight: int = 0  # the most ever answered at once
    _count: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/api/chat", self._ollama_chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def wait_for(self, predicate: Callable[[], bool], limit: float = 20.0) -> None:
        """Until `predicate` holds (it is checked whenever a request arrives or is abandoned)."""

        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(until(), limit)

    async def _record(self, body: dict[str, Any]) -> None:
        self.requests.append(body)
        async with self._changed:
            self._changed.notify_all()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _content(self, body: dict[str, Any]) -> str:
        if self.behaviour.script:
            return self.behaviour.script.pop(0)
        judged = self.behaviour.judge(body) if self.behaviour.judge is not None else None
        if judged is not None:
            return judged
        if self.behaviour.reply is not None:
            return self.behaviour.reply(body)
        system = " ".join(str(m["content"]) for m in body["messages"] if m["role"] == "system")
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema" and not self.behaviour.ignore_schema:  # structured output: follow the schema
            return json.dumps(_from_schema(fmt["json_schema"]["schema"], self._count))
        many = _MANY.search(system)
        if many:  # a request for K responses as JSON (bot/generation/prompts.py format_line): answer well-formed
            k, key = int(many.group(1)), many.group(2)
            return json.dumps({key: [_distinct_item(self._count, i) for i in range(k)]})
        last = body["messages"][-1]["content"]
        return f"Answer {self._count} to: {str(last)[:60]}"

    async def _gate(self, request: web.Request) -> web.Response | None:
        self._count += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._delay_or_fail(request)
        finally:
            self.in_flight -= 1

    async def _delay_or_fail(self, request: web.Request) -> web.Response | None:
        if self.behaviour.latency and (not self.behaviour.slow_times or self._count <= self.behaviour.slow_times):
            until = time.monotonic() + self.behaviour.latency
            while (left := until - time.monotonic()) > 0:
                await asyncio.sleep(min(left, 0.05))
                if request.transport is None or request.transport.is_closing():  # the client hung up
                    self.abandoned += 1
                    async with self._changed:
                        self._changed.notify_all()
                    return web.Response(status=499)
        if self.behaviour.status != 200 and (self.behaviour.fail_times == 0 or self._count <= self.behaviour.fail_times):
            return web.json_response(
                {"error": {"message": "simulated failure", "type": "server_error"}}, status=self.behaviour.status
            )
        return None

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(body)
        failed = await self._gate(request)
        if failed is not None:
            return failed
        if self.behaviour.malformed:
            return web.Response(text="this is not json", content_type="application/json")
        content = "" if self.behaviour.empty else self._content(body)
        return web.json_response(
            {
                "id": f"chatcmpl-{self._count}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "local"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
            }
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            vec = [0.0] * 16
            for word in str(text).lower().split():
                vec[hash(word) % 16] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vec})
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "local"),
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )

    async def _ollama_chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(body)
        failed = await self._gate(request)
        if failed is not None:
            return failed
        content = "" if self.behaviour.empty else self._content(body)
        return web.Response(
            text=json.dumps(
                {
                    "model": body.get("model", "local"),
                    "created_at": "2026-11-23T00:00:00Z",
                    "message": {"role": "assistant", "content": content},
                    "done": True,
                    "prompt_eval_count": 20,
                    "eval_count": 10,
                }
            ),
            content_type="application/json",
        )


class ServerProcess:
    """The server in its own process, as a remote provider would be: its CPU is not the measured
    process's. For benchmarks: `with ServerProcess(latency=0.5) as server: … server.api_base`."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.proc: subprocess.Popen[str] | None = None
        self.api_base = ""

    def __enter__(self) -> ServerProcess:
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.openai_server", "--latency", str(self.latency)],
            cwd=root, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("port "):
            raise RuntimeError(f"the local LLM server did not start: {line!r}")
        self.api_base = f"http://127.0.0.1:{int(line.split()[1])}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def main() -> None:
    """Run the server alone (for benchmarks, which need it out of the measured process):
    python -m tests.support.openai_server --latency 0.5  → prints 'port N' and serves until killed."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()

    async def serve() -> None:
        server = FakeOpenAIServer(Behaviour(latency=args.latency))
        await server.start()
        print(f"port {server.port}", flush=True)
        sys.stdout.flush()
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
