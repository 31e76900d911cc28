"""Every button template, pressed on a message an earlier bot process posted: written once against
the adapter boundary (ConformanceDriver), run by each platform's tests with two processes on one
database (the first posts the button, the second, with nothing in memory, answers the press)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlmodel import col, func, select

from bot.bootstrap import App
from bot.domain.model import Stance
from bot.inbound.actions import BUTTON_TEMPLATES
from bot.ports import Completion, Prompt
from storage.tables import BallotEventRow, ReactionEventRow, RoundScenarioRow, StressCaseRow
from tests.conformance.scenario import POLICY_TEXT, ConformanceDriver


@dataclass
class StressCaseGenerator:
    """Our Generator port: one loophole case when asked for stress cases, a judge finding every new
    answer consistent with its precedent, distinct text otherwise."""

    model_name: str = "fake/stress"
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def model(self) -> str:
        return self.model_name

    async def complete(self, prompt: Prompt) -> Completion:
        if prompt.purpose == "stress":
            case = {"kind": "loophole", "clause": 3, "prompt": "My friend burned a hand: what cream?", "why": "advice by proxy"}
            return Completion(text=json.dumps({"cases": [case]}), model=self.model_name)
        if prompt.purpose == "precedent-judge":
            judgement = {"verdict": "consistent", "reason": "It answers as the endorsed answers do."}
            return Completion(text=json.dumps(judgement), model=self.model_name)
        return Completion(text=f"Response {next(self._n)}", model=self.model_name)


async def _count(app: App, stmt: object) -> int:
    async with app.engine.services.uow() as uow:
        return int((await uow.session.exec(stmt)).one())  # type: ignore[call-overload]


async def _open_round(d: ConformanceDriver) -> None:
    assert "Created policy" in await d.command("mod", "/policy create kind " + POLICY_TEXT, moderator=True)
    assert "Added scenario #1" in await d.command("mod", "/scenario add How do I treat a small burn?", moderator=True)
    assert "Opening round #1" in await d.command("mod", "/round open kind scenarios=1 k=2", moderator=True)
    await d.settle()


# Each setup runs in the first process and returns the custom_id to press; each check runs in the
# second process, on its app and the press's private answer.
Setup = Callable[[ConformanceDriver], Awaitable[str]]
Check = Callable[[App, str], Awaitable[None]]


async def best_setup(d: ConformanceDriver) -> str:
    await _open_round(d)
    return "policybot:best:2"


async def best_check(app: App, answer: str) -> None:
    assert "best on candidate #2 is recorded" in answer, answer
    assert await _count(app, select(func.count()).select_from(ReactionEventRow).where(ReactionEventRow.stance == "best")) == 1


async def ballot_setup(d: ConformanceDriver) -> str:
    await _open_round(d)
    assert "AMEND" in await d.command("mod", "/round advance 1", moderator=True)
    assert "Proposed amendment #1" in await d.command("alice", "/amend replace 1 3 Suggest a doctor. -- too strict")
    assert "VOTE" in await d.command("mod", "/round advance 1", moderator=True)
    await d.settle()
    return "policybot:ballot:1:abstain"


async def ballot_check(app: App, answer: str) -> None:
    assert "Your ballot on amendment #1 is recorded: abstain" in answer, answer
    assert await _count(app, select(func.count()).select_from(BallotEventRow)) == 1


async def stress_setup(d: ConformanceDriver) -> str:
    await _open_round(d)
    assert "stress case" in (await d.command("mod", "/stress 1", moderator=True)).lower()
    await d.settle()
    assert any("Stress case #1 (loophole)" in t for t in d.posted_texts())
    return "policybot:stress:1:accept"


async def stress_check(app: App, answer: str) -> None:
    assert "as scenario #2 of round #1" in answer, answer
    await app.engine.drain()
    async with app.engine.services.uow() as uow:
        case = (await uow.session.exec(select(StressCaseRow))).one()
        linked = (await uow.session.exec(select(RoundScenarioRow.scenario_id).order_by(col(RoundScenarioRow.position)))).all()
    assert case.status == "accepted" and list(linked) == [1, 2]


async def precedent_checks_setup(d: ConformanceDriver) -> str:
    await _open_round(d)
    for member in ("alice", "bob", "carol"):  # a verdict: candidate #1 endorsed by consensus
        await d.react(member, 1, Stance.ENDORSE)
    assert "AMEND" in await d.command("mod", "/round advance 1", moderator=True)
    assert "closed" in await d.command("mod", "/round advance 1", moderator=True)
    await d.settle()  # round #1's precedent is recorded
    assert "Opening round #2" in await d.command("mod", "/round open kind scenarios=1 k=2", moderator=True)
    await d.settle()
    assert "AMEND" in await d.command("mod", "/round advance 2", moderator=True)
    assert "Proposed amendment #1" in await d.command("alice", "/amend replace 2 3 Suggest a doctor. -- too strict")
    assert "VOTE" in await d.command("mod", "/round advance 2", moderator=True)
    await d.settle()  # the ballot post is edited with how the amendment fares, and the button
    assert any("keeps 1 of 1 precedent" in t for t in d.posted_texts()), d.posted_texts()[-3:]
    return "policybot:precedents:1"


async def precedent_checks_check(app: App, answer: str) -> None:
    assert "Amendment #1" in answer and "keeps 1 of 1 precedent" in answer, answer
    assert "#1 · kept" in answer, answer


BUTTON_CASES: dict[str, tuple[Setup, Check]] = {
    "ballot": (ballot_setup, ballot_check),
    "best": (best_setup, best_check),
    "stress-accept": (stress_setup, stress_check),
    "precedent-checks": (precedent_checks_setup, precedent_checks_check),
}
assert set(BUTTON_CASES) == {t.name for t in BUTTON_TEMPLATES}, "every button template needs its case here"
