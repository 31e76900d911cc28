"""Every button template of the core's one list works on Discord after a restart: the button is posted
by one bot process, and a press on it is handled by the next (a new client and app on the same
database, nothing in memory), through discord.py's DynamicItem dispatch."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from sqlmodel import col, func, select

from bot.inbound.actions import BUTTON_TEMPLATES, ButtonTemplate
from bot.ports import Completion, Prompt
from storage.tables import BallotEventRow, ReactionEventRow, RoundScenarioRow, StressCaseRow
from tests.discord.conftest import RunningBot, StartBot
from tests.discord.driver import DiscordDriver, opt, sub
from tests.discord.fake_discord import FakeDiscord
from tests.discord.test_bot import count, open_round


@dataclass
class StressCaseGenerator:
    """Our Generator port: one loophole case when asked for stress cases, distinct text otherwise."""

    model_name: str = "fake/stress"
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def model(self) -> str:
        return self.model_name

    async def complete(self, prompt: Prompt) -> Completion:
        if prompt.purpose == "stress":
            case = {"kind": "loophole", "clause": 3, "prompt": "My friend burned a hand: what cream?", "why": "advice by proxy"}
            return Completion(text=json.dumps({"cases": [case]}), model=self.model_name)
        return Completion(text=f"Response {next(self._n)}", model=self.model_name)


def driver(fake: FakeDiscord, bot: RunningBot) -> DiscordDriver:
    return DiscordDriver(fake, bot.client, bot.app)


# Each setup runs in the first process and returns the custom_id to press in the second; each check
# runs in the second process on the press's private answer.
Setup = Callable[[DiscordDriver], Awaitable[str]]
Check = Callable[[RunningBot, str], Awaitable[None]]


async def best_setup(d: DiscordDriver) -> str:
    await open_round(d, scenarios=1, k=2)
    return "policybot:best:2"


async def best_check(bot: RunningBot, answer: str) -> None:
    assert "best on candidate #2 is recorded" in answer, answer
    assert await count(bot, select(func.count()).select_from(ReactionEventRow).where(ReactionEventRow.stance == "best")) == 1


async def ballot_setup(d: DiscordDriver) -> str:
    await open_round(d, scenarios=1, k=2)
    assert "AMEND" in await d.command("mod", "/round advance 1", moderator=True)
    assert "Proposed amendment #1" in await d.command("alice", "/amend replace 1 3 Suggest a doctor. -- too strict")
    assert "VOTE" in await d.command("mod", "/round advance 1", moderator=True)
    await d.settle()
    return "policybot:ballot:1:abstain"


async def ballot_check(bot: RunningBot, answer: str) -> None:
    assert "Your ballot on amendment #1 is recorded: abstain" in answer, answer
    assert await count(bot, select(func.count()).select_from(BallotEventRow)) == 1


async def stress_setup(d: DiscordDriver) -> str:
    await open_round(d, scenarios=1, k=2)
    mod = d.fake.member("mod", moderator=True)
    assert "stress case" in (await d.slash(mod, "stress", sub("propose", opt("round", 1)))).lower()
    await d.settle()
    case = d.fake.message_titled("Stress case #1 (loophole)")
    assert [c["label"] for row in case["components"] for c in row["components"]] == ["Accept into the round"]
    return "policybot:stress:1:accept"


async def stress_check(bot: RunningBot, answer: str) -> None:
    assert "as scenario #2 of round #1" in answer, answer
    await bot.app.engine.drain()
    async with bot.app.engine.services.uow() as uow:
        case = (await uow.session.exec(select(StressCaseRow))).one()
        linked = (await uow.session.exec(select(RoundScenarioRow.scenario_id).order_by(col(RoundScenarioRow.position)))).all()
    assert case.status == "accepted" and list(linked) == [1, 2]


CASES: dict[str, tuple[Setup, Check]] = {
    "ballot": (ballot_setup, ballot_check),
    "best": (best_setup, best_check),
    "stress-accept": (stress_setup, stress_check),
}


def test_every_button_template_has_a_restart_case() -> None:
    assert set(CASES) == {t.name for t in BUTTON_TEMPLATES}


@pytest.mark.parametrize("template", BUTTON_TEMPLATES, ids=lambda t: t.name)
async def test_a_press_on_a_button_posted_by_an_earlier_process_is_handled(
    fake: FakeDiscord, start_bot: StartBot, template: ButtonTemplate
) -> None:
    setup, check = CASES[template.name]
    first = await start_bot(generator=StressCaseGenerator())
    custom_id = await setup(driver(fake, first))
    assert template.pattern.fullmatch(custom_id)
    posted = fake.message_with_custom_id(custom_id)
    button = next(c for row in posted["components"] for c in row["components"] if c["custom_id"] == custom_id)
    assert not button.get("disabled"), button  # a member can press it
    await first.stop()

    second = await start_bot(generator=StressCaseGenerator())  # nothing of the first process in memory
    answer = await driver(fake, second).press("bob", custom_id)
    await check(second, answer)


async def test_a_button_that_is_not_policybots_is_shown_inert(fake: FakeDiscord, start_bot: StartBot) -> None:
    from bot.domain.outputs import Button, Post

    bot = await start_bot()
    key = await bot.app.engine.services.chat.post(
        Post(str(fake.channel_id), "Old", "An old message.", buttons=(Button("policybot:retired:1", "Old"),))
    )
    message = fake.messages[int(key.split(":")[1])]
    assert message["components"][0]["components"][0]["disabled"] is True
