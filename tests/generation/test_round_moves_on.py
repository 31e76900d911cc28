"""Work that finishes after its round left REVIEW is dropped with a message to the moderator, and
nothing is stored: a stress-case request, and candidates for an accepted stress case."""

from __future__ import annotations

import asyncio

from sqlmodel import col, func, select

from bot.bootstrap import App
from bot.domain.commands import Actor
from bot.inbound.parser import parse
from storage.tables import CandidateRow, StressCaseRow
from tests.generation.conftest import MakeApp, open_round
from tests.support.fakes import FakeChat
from tests.support.openai_server import FakeOpenAIServer


async def count(app: App, stmt: object) -> int:
    async with app.engine.services.uow() as uow:
        return int((await uow.session.exec(stmt)).one())  # type: ignore[call-overload]


async def advance_while_the_model_answers(app: App, mod: Actor, server: FakeOpenAIServer, line: str) -> None:
    """Send `line` (which starts slow model work), move the round to AMEND while the model is still
    answering, then let the work finish."""
    server.behaviour.latency = 1.0
    sent = len(server.requests)
    reply = await app.engine.dispatch(parse(line, mod, "general"))
    assert reply.ok, reply.text

    async def request_reached_the_model() -> None:
        while len(server.requests) == sent:  # noqa: ASYNC110  (the fake server only keeps a list)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(request_reached_the_model(), timeout=30)
    assert "AMEND" in (await app.engine.dispatch(parse("/round advance 1", mod, "general"))).text
    await app.engine.drain()


async def test_stress_cases_that_arrive_after_review_are_dropped(
    make_app: MakeApp, mod: Actor, chat: FakeChat, openai_server: FakeOpenAIServer
) -> None:
    app = await make_app()
    await open_round(app, mod, prompts=("How do I treat a burn?",))
    await advance_while_the_model_answers(app, mod, openai_server, "/stress 1 n=2")
    _, reply = chat.private[-1]
    assert not reply.ok and "left REVIEW; the stress cases were dropped" in reply.text
    assert await count(app, select(func.count()).select_from(StressCaseRow)) == 0


async def test_candidates_that_arrive_after_review_are_not_added(
    make_app: MakeApp, mod: Actor, chat: FakeChat, openai_server: FakeOpenAIServer
) -> None:
    app = await make_app()
    await open_round(app, mod, prompts=("How do I treat a burn?",))
    assert (await app.engine.dispatch(parse("/stress 1 n=1", mod, "general"))).ok
    await app.engine.drain()
    before = await count(app, select(func.count()).select_from(CandidateRow))
    await advance_while_the_model_answers(app, mod, openai_server, "/stress accept 1")
    _, reply = chat.private[-1]
    assert not reply.ok and "left REVIEW while generating" in reply.text and "not added" in reply.text
    assert await count(app, select(func.count()).select_from(CandidateRow)) == before
    accepted_scenario = select(StressCaseRow.scenario_id).where(col(StressCaseRow.status) == "accepted")
    async with app.engine.services.uow() as uow:
        sid = (await uow.session.exec(accepted_scenario)).one()
    assert await count(app, select(func.count()).select_from(CandidateRow).where(CandidateRow.scenario_id == sid)) == 0
