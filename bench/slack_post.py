"""How long a 10 × 4 round takes to post on Slack within Slack's rate limits, beside the ideal.

    python bench/slack_post.py [--scenarios 10] [--k 4] [--scale 0.1]

The round's posts (its announcement, then each scenario and its candidates in the scenario's
thread, each candidate seeded with 👍 👎 🤷: 1 + 10 + 40 messages and 120 reactions) go out one
after another, as the outbox delivers them, through the real SlackChat (the adapter's ChatPort, with
its pacer) and the real slack_sdk AsyncWebClient, to the fake Slack (tests/slack/fake_slack.py) in
its own process, which enforces Slack's limits with 429 + Retry-After: one chat.postMessage a second
per channel, 50 reactions.add a minute per workspace. `--scale` runs those limits on a faster clock
(0.1: a message every 0.1 s, 50 reactions per 6 s) in the fake and the pacer alike, so a run takes
seconds; the figures are also given at Slack's own clock (divided by the scale).

The ideal is the least time the limits allow for that many calls: (messages − 1) message intervals,
or (⌈reactions / 50⌉ − 1) reaction windows, whichever is longer. Results are printed last."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TARGET_RATIO = 1.15
CHANNEL = "C0ROUND"


def ideal(messages: int, reactions: int, scale: float) -> float:
    from adapters.slack.pacing import SlackLimits

    limits = SlackLimits().scaled(scale)
    by_messages = (messages - 1) * limits.message.seconds / limits.message.calls
    by_reactions = (math.ceil(reactions / limits.reaction.calls) - 1) * limits.reaction.seconds
    return max(by_messages, by_reactions)


async def post_round(api_url: str, scenarios: int, k: int, scale: float) -> tuple[float, int, int]:
    """Post the round; (seconds, messages, reactions)."""
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack.chat import SlackChat, retry_handlers
    from adapters.slack.installations import OneWorkspace
    from adapters.slack.pacing import SlackLimits, SlackPacing
    from bot.domain.model import Stance
    from bot.domain.outputs import Post
    from tests.slack.fake_slack import BOT_TOKEN

    client = AsyncWebClient(token=BOT_TOKEN, base_url=api_url, retry_handlers=retry_handlers())
    chat = SlackChat(OneWorkspace(client), SlackPacing(SlackLimits().scaled(scale)))
    stances = (Stance.ENDORSE, Stance.OBJECT, Stance.PASS)
    answer = "A careful answer under the draft policy, with the reasons it gives. " * 12
    started = time.perf_counter()
    await chat.post(Post(CHANNEL, "Policy round #1 · kind v1 · review", "React to each candidate; vote later."))
    messages, reactions = 1, 0
    for s in range(scenarios):
        parent = await chat.post(Post(CHANNEL, f"Round #1 · scenario {s + 1}", f"How do I treat a small burn? ({s})"))
        messages += 1
        for c in range(k):
            title = f"Candidate {'ABCD'[c % 4]} (#{s * k + c + 1})"
            await chat.post(Post(CHANNEL, title, answer, seed_reactions=stances, thread_parent=parent))
            messages, reactions = messages + 1, reactions + len(stances)
    elapsed = time.perf_counter() - started
    print(f"waits: messages {chat.pacing.messages.waited:.2f} s, reactions {chat.pacing.reactions.waited:.2f} s", file=sys.stderr)
    return elapsed, messages, reactions


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", type=int, default=10)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--scale", type=float, default=0.1, help="Slack's limits on a clock this much faster (1: Slack's own)")
    args = parser.parse_args()

    from tests.support.processes import HelperProcess

    fake = HelperProcess("tests.slack.fake_slack", "--enforce", str(args.scale))
    try:
        base = f"http://127.0.0.1:{fake.port}"
        elapsed, messages, reactions = await post_round(f"{base}/api/", args.scenarios, args.k, args.scale)
        async with aiohttp.ClientSession() as session, session.get(f"{base}/stats") as r:
            stats = json.loads(await r.text())
    finally:
        fake.stop()
    best = ideal(messages, reactions, args.scale)
    limited = sum(stats["limited"].values())
    lines = [
        f"round: {args.scenarios} scenarios x {args.k} candidates",
        f"messages posted: {messages} messages",
        f"reactions seeded: {reactions} reactions",
        f"clock scale of the limits: {args.scale:g} x",
        f"429s from the fake Slack: {limited} responses",
        f"ideal time the limits allow: {best:.2f} s",
        f"time to post the round: {elapsed:.2f} s",
        f"ideal at Slack's own limits: {best / args.scale:.1f} s",
        f"time at Slack's own limits (scaled back): {elapsed / args.scale:.1f} s",
        f"ratio to ideal: {elapsed / best:.3f} x",
        f"target ratio to ideal: {TARGET_RATIO:.3f} x",
        f"machine load average (1 min) at the end, on {os.cpu_count()} cores: {os.getloadavg()[0]:.1f}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
