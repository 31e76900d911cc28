"""Discord acknowledgement latency under load: how long from an interaction leaving the gateway to
its deferral reaching Discord, while a round of 10 scenarios × 4 candidates is being posted (under
enforced rate limits) and members' reactions stream in.

Runs the real discord.py client against the local fake Discord of the tests (REST + gateway), the
real engine and SQLite, and a fake model answering after --llm-latency seconds.

    python bench/discord_ack.py [--interactions 150] [--reactions 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from adapters.discord.run import build
from bot.settings import Settings
from storage.migrate import upgrade_async
from tests.discord.driver import DiscordDriver, opt, sub
from tests.discord.fake_discord import FakeDiscord
from tests.support.fakes import FakeGenerator


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=150)
    parser.add_argument("--reactions", type=int, default=1500)
    parser.add_argument("--llm-latency", type=float, default=0.2)
    args = parser.parse_args()

    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    await upgrade_async(url)
    fake = FakeDiscord()
    await fake.start()
    fake.install()
    settings = Settings(database_url=url, sampling="independent", max_drafts=0, preview=False)
    client, app = build(settings, generator=FakeGenerator(delay=args.llm_latency), guild_ready_timeout=0.05)
    task = asyncio.create_task(client.start("MTMwMDAwMDAwMDAwMDAwMDAwMA.fake.token"))
    await asyncio.wait_for(client.wait_until_ready(), 30)
    d = DiscordDriver(fake, client, app)
    await d.command("mod", "/policy create kind 1. Be kind. 2. Cite sources. 3. No medical advice.", moderator=True)
    for i in range(10):
        await d.command("mod", f"/scenario add Question {i}: what should I do?", moderator=True)

    sent: dict[str, float] = {}
    members = [fake.member(f"m{i}") for i in range(50)]

    async def interactions() -> None:
        for i in range(args.interactions):
            payload = fake.slash(members[i % len(members)], "round", sub("status"))
            sent[payload["token"]] = time.monotonic()
            d.expected += 1
            await fake.gateway.dispatch("INTERACTION_CREATE", payload)
            await asyncio.sleep(0.02)

    async def reactions() -> None:
        def candidates() -> list[dict[str, Any]]:
            return [m for m in fake.posted_messages() if m["embeds"] and "Candidate" in m["embeds"][0]["title"]]

        await fake.wait_for(lambda: bool(candidates()), 120)
        for i in range(args.reactions):
            targets = candidates()
            d.expected += 1
            await fake.gateway.dispatch("MESSAGE_REACTION_ADD", fake.reaction(members[i % 50], targets[i % len(targets)], "👍"))
            await asyncio.sleep(0.002)

    opener = fake.slash(
        fake.member("mod", moderator=True), "round", sub("open", opt("policy", "kind"), opt("scenarios", "1,2,3,4,5,6,7,8,9,10"))
    )
    started = time.monotonic()
    sent[opener["token"]] = started
    d.expected += 1
    await fake.gateway.dispatch("INTERACTION_CREATE", opener)
    await asyncio.gather(interactions(), reactions())
    await d.handled()
    await app.engine.drain()
    elapsed = time.monotonic() - started

    acks: list[float] = []
    answers: list[float] = []
    for call in fake.calls:
        token = call.path.split("/")[-2] if call.path.endswith("/callback") else None
        if token in sent:
            acks.append((call.at - sent[token]) * 1000)
    for token, t0 in sent.items():
        firsts = [c.at for c in fake.calls if c.path.startswith("/webhooks/") and c.path.endswith(token)]
        if firsts:
            answers.append((min(firsts) - t0) * 1000)
    posted = len(fake.posted_messages())
    await client.close()
    await task
    await app.close()
    fake.uninstall()
    await fake.stop()

    lines: list[Any] = [
        f"interactions acknowledged: {len(acks)} of {len(sent)}",
        f"reactions delivered: {args.reactions}",
        f"messages posted during the run: {posted}",
        f"429s from the fake Discord: {fake.rate_limited}",
        f"run time: {elapsed:.1f} s",
        f"p50 ack: {statistics.median(acks):.0f} ms",
        f"p99 ack: {pct(acks, 0.99):.0f} ms",
        f"max ack: {max(acks):.0f} ms",
        f"p99 answer (first follow-up): {pct(answers, 0.99):.0f} ms",
        "target p99 ack: 300 ms",
        "Discord's limit for an acknowledgement: 3000 ms",
    ]
    print("\n".join(str(x) for x in lines))


if __name__ == "__main__":
    asyncio.run(main())
