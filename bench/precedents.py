"""Wall time to check 3 amendments against 20 precedents when the vote opens (each check: the
precedent's scenario answered again under the amended policy, then a judge call), against the ideal
and against the same calls made straight through the generator.

    python bench/precedents.py [--latency 0.5] [--concurrency 8] [--precedents 20] [--amendments 3]

The local OpenAI-compatible server runs in its own process (as a remote provider would), answers
every request after `--latency` seconds and plays the judge (tests/support/openai_server.py). The
app is built as bootstrap() builds it: the litellm Router in its child process, SQLite. Set-up (not
measured): a closed round whose community endorsed one candidate and objected to another on each of
`--precedents` scenarios, so each becomes a precedent; a second round with `--amendments` amendments.
Measured: from the moderator's AMEND → VOTE to the last ballot post edited with its precedents line.
Ideal = ceil(calls / calls in flight) × latency (every check is two calls one after the other, but
the checks of all amendments interleave). Results are printed last, one per line."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-local-bench")  # the loopback server ignores it; litellm wants one

from sqlmodel import col, func, select

from bot.bootstrap import bootstrap
from bot.domain import commands as c
from bot.domain.model import AmendmentKind, ClauseText, Stance, Turn
from bot.domain.outputs import Post
from bot.settings import Settings
from storage.migrate import upgrade_async
from storage.tables import CandidateRow, LLMCallRow, PrecedentCheckRow, PrecedentRow
from tests.support.fakes import FakeChat
from tests.support.openai_server import ServerProcess

MOD = c.Actor("bench", "bench-community", "mod", "Mod", True)
POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."


class TimingChat(FakeChat):
    """Notes when each ballot post is edited with how its amendment fares."""

    def __init__(self) -> None:
        super().__init__()
        self.checked: dict[str, float] = {}

    async def edit(self, message_key: str, post: Post) -> None:
        await super().edit(message_key, post)
        if post.title.startswith("Amendment #") and any(f.name == "Precedents" and "keeps" in f.value for f in post.fields):
            self.checked[message_key] = time.perf_counter()


async def run(api_base: str, args: argparse.Namespace) -> dict[str, float]:
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
        precedent_checks=args.precedents,
        max_drafts=0,
        preview=False,
    )
    app = bootstrap(settings, chat)
    e = app.engine
    async with app.running():  # as `policybot run` does
        assert (await e.dispatch(c.CreatePolicy(MOD, "kind", POLICY))).ok
        for i in range(args.precedents):
            assert (await e.dispatch(c.AddScenario(MOD, (Turn("user", f"Case {i}: may I take two painkillers?"),)))).ok
        ids = tuple(range(1, args.precedents + 1))
        assert (await e.dispatch(c.OpenRound(MOD, "kind", "general", ids, k=2))).ok
        await e.drain()
        async with app.engine.services.uow() as uow:
            cands = (await uow.session.exec(select(CandidateRow).order_by(col(CandidateRow.id)))).all()
        for cand in cands:  # three members endorse the first candidate of each scenario and object to the second
            stance = Stance.ENDORSE if cand.position == 0 else Stance.OBJECT
            for who in ("alice", "bob", "carol"):
                member = c.Actor("bench", "bench-community", who)
                assert (await e.dispatch(c.RecordReaction(member, stance, f"{who}-{cand.id}", cand.id))).ok
        for _ in range(2):  # REVIEW → AMEND → CLOSED: the precedents are recorded
            assert (await e.dispatch(c.AdvanceRound(MOD, 1))).ok
        await e.drain()
        async with app.engine.services.uow() as uow:
            precedents = (await uow.session.exec(select(func.count()).select_from(PrecedentRow))).one()
        assert precedents == args.precedents, f"{precedents} precedents recorded"

        assert (await e.dispatch(c.OpenRound(MOD, "kind", "general", (1,), k=2))).ok
        await e.drain()
        assert (await e.dispatch(c.AdvanceRound(MOD, 2))).ok
        for i in range(args.amendments):
            member = c.Actor("bench", "bench-community", f"member-{i}")
            cmd = c.ProposeAmendment(member, 2, AmendmentKind.ADD, None, f"Rule {i}: answer in {i + 2} sentences.")
            assert (await e.dispatch(cmd)).ok
        started = time.perf_counter()
        assert (await e.dispatch(c.AdvanceRound(MOD, 2))).ok  # AMEND → VOTE: the checks start
        await e.drain()
        async with app.engine.services.uow() as uow:
            s = uow.session
            calls = (
                await s.exec(
                    select(func.count())
                    .select_from(LLMCallRow)
                    .where(LLMCallRow.round_id == 2, col(LLMCallRow.purpose).startswith("precedent"), LLMCallRow.outcome == "ok")
                )
            ).one()
            checks = (await s.exec(select(func.count()).select_from(PrecedentCheckRow))).one()
        assert checks == args.precedents * args.amendments, f"only {checks} checks stored"
        assert len(chat.checked) == args.amendments, f"{len(chat.checked)} ballot posts edited"
        wall = max(chat.checked.values()) - started
        print(f"{calls} calls, {checks} checks stored, checked in {wall:.3f} s", file=sys.stderr)
        return {"calls": calls, "wall": wall}


async def generator_alone(api_base: str, args: argparse.Namespace) -> float:
    """The same chains (an answer, then a judge call on it) straight through the generator: no bot, no database."""
    from bot.generation.precedent_checks import judge_prompt
    from bot.generation.precedents import PrecedentCase
    from bot.generation.prompts import candidate_prompt
    from bot.llm.litellm import LLMConfig
    from bot.llm.process import LLMWorker, ProcessGenerator

    config = LLMConfig("openai/bench-model", api_base=api_base, timeout=30, retries=0, concurrency=args.concurrency)
    gen = ProcessGenerator(LLMWorker(config))
    clauses = [ClauseText(1, "c1", "Be kind."), ClauseText(2, "c2", "Cite sources.")]

    async def chain(i: int) -> None:  # the generator keeps `concurrency` calls in flight by itself
        turns = (Turn("user", f"Alone {i}: may I take two painkillers?"),)
        answer = await gen.complete(candidate_prompt("kind", clauses, turns, 0.9))
        case = PrecedentCase(i, i, "alone", turns, ("Yes, with water.",), ("No.",))
        await gen.complete(judge_prompt(case, answer.text))

    try:
        await chain(-1)  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(chain(i) for i in range(args.precedents * args.amendments)))
        return time.perf_counter() - started
    finally:
        await gen.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--precedents", type=int, default=20)
    parser.add_argument("--amendments", type=int, default=3)
    args = parser.parse_args()
    with ServerProcess(args.latency) as server:
        alone = await generator_alone(server.api_base, args)
        r = await run(server.api_base, args)
    ideal = math.ceil(r["calls"] / args.concurrency) * args.latency
    print(
        "\n".join(
            [
                f"precedents checked per amendment: {args.precedents} precedents",
                f"amendments: {args.amendments} amendments",
                f"latency per call: {args.latency * 1000:.0f} ms",
                f"calls in flight: {args.concurrency} calls",
                f"calls made: {r['calls']:.0f} calls",
                f"ideal wall time: {ideal:.3f} s",
                f"generator alone, the same calls: {alone:.3f} s",
                f"generator alone ratio to ideal: {alone / ideal:.3f} x",
                f"wall time, vote opened to the last ballot post edited: {r['wall']:.3f} s",
                f"ratio to ideal: {r['wall'] / ideal:.3f} x",
                f"ratio to the generator alone: {r['wall'] / alone:.3f} x",
            ]
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
