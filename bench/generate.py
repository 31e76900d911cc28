"""Wall time to generate a round of 10 scenarios × 4 candidates, against the ideal, and the longest
event-loop stall meanwhile, while reactions keep being recorded through the engine.

    python bench/generate.py [--latency 0.5] [--concurrency 8] [--scenarios 10] [--k 4]

The local OpenAI-compatible server runs in its own process (as a remote provider would) and
answers every request after `--latency` seconds. The app is built as bootstrap() builds it: the
litellm Router in its child process, SQLite, both sampling methods in turn (each on a fresh database,
so nothing comes from the answer cache). Ideal = ceil(calls made / calls in flight) × latency.
"Generated" is the moment the candidates are stored and the round is open (the announcement is
edited into its final form); "posted" adds posting the 10 scenario and 40 candidate messages.
A ticker wakes every 5 ms on the main loop; its worst lateness is the event-loop stall. Results
are printed last, one per line."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-local-bench")  # the loopback server ignores it; litellm wants one

from sqlmodel import func, select

from bot.bootstrap import App, bootstrap
from bot.domain import commands as c
from bot.domain.model import Stance, Turn
from bot.domain.outputs import Post
from bot.settings import Settings
from storage.migrate import upgrade_async
from storage.tables import CandidateRow, LLMCallRow, ReactionEventRow
from tests.support.fakes import FakeChat
from tests.support.openai_server import ServerProcess

MOD = c.Actor("bench", "bench-community", "mod", "Mod", True)
STANCES = (Stance.ENDORSE, Stance.OBJECT, Stance.PASS)
TICK = 0.005


class TimingChat(FakeChat):
    """Notes when the round's announcement becomes final (candidates stored, round open)."""

    def __init__(self) -> None:
        super().__init__()
        self.final_at: float | None = None

    async def edit(self, message_key: str, post: Post) -> None:
        await super().edit(message_key, post)
        if post.title.startswith("Policy round #2") and not post.text.startswith("Generating"):
            self.final_at = time.perf_counter()

    async def post(self, post: Post, *, delivery_key: str = "") -> str:
        key = await super().post(post, delivery_key=delivery_key)
        if post.title.startswith("Policy round #2") and not post.text.startswith("Generating"):
            self.final_at = time.perf_counter()
        return key


async def ticker(stop: asyncio.Event, worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + TICK
        await asyncio.sleep(TICK)
        worst[0] = max(worst[0], loop.time() - due)


async def reactor(app: App, candidates: list[int], stop: asyncio.Event, sent: list[int]) -> None:
    """Members keep reacting to the open round's candidates (one every 10 ms) through the engine."""
    i = 0
    while not stop.is_set():
        who = c.Actor("bench", "bench-community", f"member-{i % 500}")
        cmd = c.RecordReaction(who, STANCES[i % 3], f"evt-{uuid.uuid4()}", candidate_id=candidates[i % len(candidates)])
        reply = await app.engine.dispatch(cmd)
        assert reply.ok, reply.text
        sent[0] += 1
        i += 1
        await asyncio.sleep(0.01)


async def run(method: str, api_base: str, args: argparse.Namespace) -> dict[str, float]:
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    await upgrade_async(url)
    chat = TimingChat()
    settings = Settings(
        database_url=url,
        model="openai/bench-model",
        llm_api_base=api_base,
        llm_timeout=30,
        llm_retries=0,
        llm_concurrency=args.concurrency,
        sampling=method,
        max_drafts=0,
        preview=False,
    )
    app = bootstrap(settings, chat)
    e = app.engine
    async with app.running():  # as `policybot run` does
        for name in ("busy", "target"):
            assert (await e.dispatch(c.CreatePolicy(MOD, name, "1. Be kind.\n2. Cite sources."))).ok
        for i in range(args.scenarios + 1):
            assert (await e.dispatch(c.AddScenario(MOD, (Turn("user", f"Scenario {i}: what should I do?"),)))).ok
        # round 1 is open for review (and warms litellm up); its candidates get the reactions
        assert (await e.dispatch(c.OpenRound(MOD, "busy", "general", (1,), k=args.k))).ok
        await e.drain()
        async with app.engine.services.uow() as uow:
            candidates = [x for x in (await uow.session.exec(select(CandidateRow.id))).all() if x is not None]
        assert len(candidates) == args.k

        stop, worst, sent = asyncio.Event(), [0.0], [0]
        side = [asyncio.create_task(ticker(stop, worst)), asyncio.create_task(reactor(app, candidates, stop, sent))]
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        ids = tuple(range(2, args.scenarios + 2))
        reply = await e.dispatch(c.OpenRound(MOD, "target", "general", ids, k=args.k))
        assert reply.ok, reply.text
        await e.drain()
        posted = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*side)
        async with app.engine.services.uow() as uow:
            s = uow.session
            stored = (await s.exec(select(func.count()).select_from(CandidateRow).where(CandidateRow.round_id == 2))).one()
            calls = (
                await s.exec(
                    select(func.count()).select_from(LLMCallRow).where(LLMCallRow.round_id == 2, LLMCallRow.outcome != "cached")
                )
            ).one()
            reactions = (await s.exec(select(func.count()).select_from(ReactionEventRow))).one()
        assert stored == args.scenarios * args.k, f"only {stored} candidates stored"
        assert reactions == sent[0], f"lost reactions: {reactions} stored, {sent[0]} sent"
        assert chat.final_at is not None
        generated = chat.final_at - started
        ideal = math.ceil(calls / args.concurrency) * args.latency
        print(
            f"{method}: {calls} calls, {stored} candidates; generated in {generated:.3f} s, posted in {posted:.3f} s; "
            f"{sent[0]} reactions recorded meanwhile",
            file=sys.stderr,
        )
        return {"calls": calls, "generated": generated, "posted": posted, "ideal": ideal, "stall": worst[0], "reactions": sent[0]}


async def litellm_alone(api_base: str, args: argparse.Namespace) -> float:
    """The same calls straight through the generator (no bot, no database): the floor for the bot."""
    from bot.domain.model import ClauseText
    from bot.generation.prompts import nc_prompt
    from bot.llm.litellm import LLMConfig
    from bot.llm.process import LLMWorker, ProcessGenerator

    gen = ProcessGenerator(
        LLMWorker(LLMConfig("openai/bench-model", api_base=api_base, timeout=30, retries=0, concurrency=args.concurrency))
    )
    clauses = [ClauseText(1, "c1", "Be kind."), ClauseText(2, "c2", "Cite sources.")]

    async def one(i: int) -> None:  # the generator keeps `concurrency` calls in flight by itself
        await gen.complete(nc_prompt("bench", clauses, (Turn("user", f"Alone {i}?"),), args.k, 0.9))

    try:
        await one(-1)  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.scenarios)))
        return time.perf_counter() - started
    finally:
        await gen.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--scenarios", type=int, default=10)
    parser.add_argument("--k", type=int, default=4)
    args = parser.parse_args()
    with ServerProcess(args.latency) as server:
        alone = await litellm_alone(server.api_base, args)
        results = {m: await run(m, server.api_base, args) for m in ("negatively-correlated", "independent")}
    lines = [
        f"litellm alone, {args.scenarios} calls: {alone:.3f} s",
        f"litellm alone ratio to ideal: {alone / (math.ceil(args.scenarios / args.concurrency) * args.latency):.3f} x",
    ]
    for method, r in results.items():
        short = "nc" if method == "negatively-correlated" else "independent"
        lines += [
            f"{short} calls made: {r['calls']:.0f} calls",
            f"{short} ideal wall time: {r['ideal']:.3f} s",
            f"{short} wall time to generate: {r['generated']:.3f} s",
            f"{short} ratio to ideal: {r['generated'] / r['ideal']:.3f} x",
            f"{short} wall time incl. posting {args.scenarios + args.scenarios * args.k + 1} messages: {r['posted']:.3f} s",
            f"{short} reactions recorded meanwhile: {r['reactions']:.0f} reactions",
            f"{short} max event-loop stall: {r['stall'] * 1000:.1f} ms",
        ]
    lines += ["target ratio to ideal: 1.150 x", "target max event-loop stall: 50.0 ms"]
    lines += [f"machine load average (1 min) at the end, on {os.cpu_count()} cores: {os.getloadavg()[0]:.1f}"]
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
