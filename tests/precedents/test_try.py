"""/try through the engine against the local model server: a member's own prompt answered privately
under the current version, a past version and an amendment; kept as a scenario; limited per member
(the limit and what is left said in the reply); logged as a model call with its cost; erased on request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlmodel import col, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import BallotChoice, Turn
from storage.tables import LLMCacheRow, LLMCallRow, ScenarioRow, TryRow
from tests.conftest import actor
from tests.generation.conftest import MakeApp, system_of
from tests.precedents.conftest import BURN, FIRST_AID, POLICY, REFUSAL, vote_on
from tests.precedents.test_precedents import GIVE_FIRST_AID
from tests.support.fakes import FixedClock
from tests.support.openai_server import FakeOpenAIServer

ALICE = actor("alice")


def tried(prompt: str = BURN, who: Actor = ALICE, **options: Any) -> c.TryPrompt:
    return c.TryPrompt(who, (Turn("user", prompt),), **options)


async def rows(app: App, table: Any) -> list[Any]:
    async with app.engine.services.uow() as uow:
        return list((await uow.session.exec(select(table).order_by(col(table.id)))).all())


async def with_policy(app: App, mod: Actor) -> None:
    assert (await app.engine.dispatch(c.CreatePolicy(mod, "kind", POLICY))).ok
    assert (await app.engine.dispatch(c.AddScenario(mod, (Turn("user", BURN),)))).ok


async def test_try_under_the_current_version_a_past_one_and_an_amendment(
    make_app: MakeApp, mod: Actor, openai_server: FakeOpenAIServer
) -> None:
    app = await make_app(precedent_checks=0)
    e = app.engine
    await with_policy(app, mod)
    sent = len(openai_server.requests)
    reply = await e.dispatch(tried())
    assert reply.ok and not reply.public, reply.text
    assert reply.text.startswith("Try #1, under kind v1 (the current version):") and REFUSAL in reply.text
    assert "1 model call to test-model: 20 + 10 tokens" in reply.text and "19 of 20 tries left" in reply.text
    assert "Add this prompt as a scenario: /try keep 1" in reply.text
    (request,) = openai_server.requests[sent:]
    assert "Never give medical advice" in system_of(request) and request["messages"][-1]["content"] == BURN
    (call,) = [x for x in await rows(app, LLMCallRow) if x.purpose == "try"]
    assert (call.community, call.round_id, call.outcome, call.prompt_tokens, call.completion_tokens) == (
        "guild-1",
        None,
        "ok",
        20,
        10,
    )

    await vote_on(app, mod, 1, GIVE_FIRST_AID)  # amendment #1, on the ballot
    under_amendment = await e.dispatch(tried(amendment_id=1, who=actor("bob")))
    assert "under kind v1 as amendment #1 (proposed) would make it: replace clause 3" in under_amendment.text
    assert FIRST_AID in under_amendment.text, under_amendment.text
    assert (await e.dispatch(c.CastBallot(actor("carol"), 1, BallotChoice.YES))).ok
    assert (await e.dispatch(c.AdvanceRound(mod, 1))).ok  # v2 published: first aid allowed
    await e.drain()

    current = await e.dispatch(tried(policy="kind", who=actor("bob")))
    assert "under kind v2 (the current version)" in current.text and FIRST_AID in current.text
    past = await e.dispatch(tried(version=1, who=actor("bob")))
    assert "under kind v1 (a past version; the current one is v2)" in past.text and REFUSAL in past.text
    assert "17 of 20 tries left" in past.text  # bob's third


async def test_bad_tries_are_refused_and_change_nothing(make_app: MakeApp, mod: Actor) -> None:
    app = await make_app(precedent_checks=0)
    e = app.engine
    none_yet = await e.dispatch(tried())
    assert not none_yet.ok and "no policy yet" in none_yet.text
    await with_policy(app, mod)
    assert (await e.dispatch(c.CreatePolicy(mod, "other", "1. Be brief."))).ok
    for cmd, said in (
        (tried(), "several policies (kind, other): name one with policy=NAME"),
        (tried(policy="nope"), "There is no policy named 'nope'"),
        (tried(policy="kind", version=7), "has no version 7"),
        (tried(amendment_id=9), "There is no amendment #9"),
        (c.TryPrompt(ALICE, (Turn("assistant", "hi"),), policy="kind"), "must end with a user turn"),
        (c.KeepTry(ALICE, 1), "You have no try #1"),
    ):
        reply = await e.dispatch(cmd)
        assert not reply.ok and said in reply.text, (cmd, reply.text)
    await vote_on(app, mod, 1, GIVE_FIRST_AID)
    both = await e.dispatch(tried(amendment_id=1, version=1))
    assert not both.ok and "not both" in both.text
    elsewhere = await e.dispatch(tried(amendment_id=1, who=actor("eve", community="guild-2")))
    assert not elsewhere.ok and "There is no amendment #1" in elsewhere.text
    assert not await rows(app, TryRow)


async def test_tries_are_limited_per_member_in_any_24_hours(make_app: MakeApp, mod: Actor, clock: FixedClock) -> None:
    app = await make_app(precedent_checks=0, try_limit=2)
    e = app.engine
    await with_policy(app, mod)
    first = await e.dispatch(tried())
    assert "1 of 2 tries left" in first.text
    clock.advance(hours=1)
    second = await e.dispatch(tried("Is coffee healthy?"))
    assert "0 of 2 tries left" in second.text
    over = await e.dispatch(tried("Anything else?"))
    free_at = int((clock.moment.timestamp() - 3600) + 24 * 3600)
    assert not over.ok and f"You have used your 2 tries of the last 24 hours; the next one is free at ⟦time:{free_at}⟧" in (
        over.text
    )
    assert len(await rows(app, TryRow)) == 2  # the refused one left nothing behind
    assert (await e.dispatch(tried(who=actor("bob")))).ok  # the limit is each member's own
    clock.advance(hours=23, seconds=1)  # the first try is now more than 24 hours old
    assert "0 of 2 tries left" in (await e.dispatch(tried("Anything else?"))).text


async def test_two_tries_at_once_do_not_both_pass_the_limit(
    make_app: MakeApp, mod: Actor, openai_server: FakeOpenAIServer
) -> None:
    app = await make_app(precedent_checks=0, try_limit=1)
    await with_policy(app, mod)
    openai_server.behaviour.latency = 0.2
    replies = await asyncio.gather(*(app.engine.dispatch(tried(f"Question {i}?")) for i in range(3)))
    assert sorted(r.ok for r in replies) == [False, False, True], [r.text for r in replies]
    assert len(await rows(app, TryRow)) == 1


async def test_a_failed_try_does_not_count(make_app: MakeApp, mod: Actor, openai_server: FakeOpenAIServer) -> None:
    app = await make_app(precedent_checks=0, try_limit=2, llm_retries=0)
    await with_policy(app, mod)
    openai_server.behaviour.status = 500
    failed = await app.engine.dispatch(tried())
    assert not failed.ok and "does not count against your 2 a day" in failed.text, failed.text
    openai_server.behaviour.status = 200
    assert "1 of 2 tries left" in (await app.engine.dispatch(tried())).text
    assert [t.outcome for t in await rows(app, TryRow)] == ["failed", "ok"]
    turned_off = await make_app(precedent_checks=0, try_limit=0)
    off = await turned_off.engine.dispatch(tried())
    assert not off.ok and "turned off" in off.text


async def test_a_try_is_kept_as_a_scenario_and_erased_on_request(make_app: MakeApp, mod: Actor) -> None:
    app = await make_app(precedent_checks=0)
    e = app.engine
    await with_policy(app, mod)
    conversation = (Turn("user", "My hand is burnt."), Turn("assistant", "I am sorry."), Turn("user", "What now?"))
    assert (await e.dispatch(c.TryPrompt(ALICE, conversation))).ok
    assert not (await e.dispatch(c.KeepTry(actor("bob"), 1))).ok  # only who tried it
    kept = await e.dispatch(c.KeepTry(ALICE, 1))
    assert kept.ok and "Added scenario #2 from try #1" in kept.text
    scenario = (await rows(app, ScenarioRow))[1]
    assert (
        json.loads(scenario.turns_json)[1] == {"role": "assistant", "content": "I am sorry."} and scenario.created_by == "alice"
    )
    again = await e.dispatch(c.KeepTry(ALICE, 1))
    assert not again.ok and "already scenario #2" in again.text

    assert (await e.dispatch(tried("Second question?"))).ok
    shown = await e.dispatch(c.PrivacyShow(ALICE))
    assert shown.attachment is not None
    tries = json.loads(shown.attachment.data)["tries"]  # what the bot holds about alice
    assert [t["prompt"][-1]["content"] for t in tries] == ["What now?", "Second question?"]
    assert tries[0]["scenario_id"] == 2 and REFUSAL in tries[1]["answer"]
    asked = await e.dispatch(c.PrivacyErase(ALICE))
    assert "the prompts and answers of 2 /try" in asked.text
    digests = {t.prompt_hash for t in await rows(app, TryRow)}
    assert (await e.dispatch(c.PrivacyErase(ALICE, confirm=True))).ok
    assert await rows(app, TryRow) == []  # erasure means nowhere: her tries go, and with them her count
    assert digests and not [x for x in await rows(app, LLMCacheRow) if x.prompt_hash in digests]
    gone = await e.dispatch(c.KeepTry(ALICE, 2))
    assert not gone.ok and "no try #2" in gone.text
    assert "19 of 20 tries left" in (await e.dispatch(tried("Third?"))).text
