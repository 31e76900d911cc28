"""The pacer on an injected clock (no test here depends on the machine's speed), and a 10 × 4 round
posted to a fake Slack that enforces Slack's rate limits with 429 + Retry-After."""

from __future__ import annotations

import asyncio
import itertools

from sqlmodel import col, select

from adapters.slack.pacing import Limit, Pacer, SlackLimits
from storage.tables import CandidateRow, RoundScenarioRow
from tests.slack.conftest import StartSlack
from tests.slack.fake_slack import Enforced, FakeSlack
from tests.slack.test_bolt import open_round


class FakeClock:
    """Time that passes only when a call sleeps, or takes `busy` seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def starts(pacer: Pacer, clock: FakeClock, keys: list[str], busy: float = 0.0) -> list[float]:
    """When each call (one after another) started."""
    out: list[float] = []
    for key in keys:
        async with pacer.slot(key):
            out.append(clock.now)
            clock.now += busy
    return out


async def test_one_message_a_second_per_channel_counted_from_each_ones_end() -> None:
    clock = FakeClock()
    pacer = Pacer(Limit(1, 1.0), clock=clock, sleep=clock.sleep)
    assert await starts(pacer, clock, ["C1"] * 4) == [0.0, 1.0, 2.0, 3.0]
    # a call that took 0.4 s (the way to Slack and back): the next starts 1 s after it ended
    assert await starts(pacer, clock, ["C1", "C1"], busy=0.4) == [4.0, 5.4]
    # another channel has its own second
    before = pacer.waited
    assert await starts(pacer, clock, ["C2"]) == [clock.now]
    assert pacer.waited == before


async def test_reactions_fifty_in_any_minute_then_the_next_fifty() -> None:
    clock = FakeClock()
    pacer = Pacer(SlackLimits().reaction, clock=clock, sleep=clock.sleep)
    at = await starts(pacer, clock, ["T"] * 120)
    assert at[:50] == [0.0] * 50 and at[50:100] == [60.0] * 50 and at[100:] == [120.0] * 20
    assert all(sum(1 for t in at if s <= t < s + 60) <= 50 for s in at)  # no window of a minute holds more


async def test_calls_on_one_channel_keep_their_order() -> None:
    clock = FakeClock()
    pacer = Pacer(Limit(1, 1.0), clock=clock, sleep=clock.sleep)
    done: list[int] = []

    async def post(i: int) -> None:
        async with pacer.slot("C1"):
            done.append(i)

    await asyncio.gather(*(post(i) for i in range(20)))
    assert done == list(range(20))


async def test_a_ten_by_four_round_provokes_no_429_and_keeps_its_order(fake: FakeSlack, start_slack: StartSlack) -> None:
    scale = 0.02  # Slack's limits on a clock 50 times faster, in the bot and in the fake alike
    fake.enforce = Enforced().scaled(scale)
    slack = await start_slack(limits=SlackLimits().scaled(scale))
    await open_round(slack, scenarios=tuple(f"Scenario {i}: how do I treat a small burn?" for i in range(10)), k=4)
    posts = fake.calls_to("chat.postMessage")
    reactions = fake.calls_to("reactions.add")
    assert len(posts) >= 51 and len(reactions) == 120
    assert [c for c in fake.calls if c.status == 429] == []
    async with slack.bot.app.engine.services.uow() as uow:
        scenarios = (await uow.session.exec(select(RoundScenarioRow).order_by(col(RoundScenarioRow.position)))).all()
        rows = (await uow.session.exec(select(CandidateRow).order_by(col(CandidateRow.id)))).all()
    order = fake.order
    thread_keys = [s.thread_key for s in scenarios]
    assert [order.index(k or "") for k in thread_keys] == sorted(order.index(k or "") for k in thread_keys)
    for s in scenarios:
        mine = [r for r in rows if r.scenario_id == s.scenario_id]
        at = [order.index(r.message_key or "") for r in mine]
        assert len(mine) == 4 and at == sorted(at) and min(at) > order.index(s.thread_key or "")
    for channel in {str(c.args["channel"]) for c in posts}:  # the fake saw them spaced as Slack wants
        times = [c.at for c in posts if c.args["channel"] == channel]
        assert all(b - a >= fake.enforce.message_seconds for a, b in itertools.pairwise(times))
