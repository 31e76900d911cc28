"""Precedents through the engine, with the real litellm calling the local model server over HTTP: a
round's verdicts become precedents only where the community agreed; each amendment on the ballot is
checked against them (one that contradicts a precedent is reported as changing it, one that does not
keeps it); a failing judge is reported as not checked; a published version is checked with its
changelog; retired precedents are no longer checked."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Turn
from bot.domain.outputs import Post
from bot.generation.precedent_checks import JUDGE_PROMPT_VERSION
from bot.inbound.actions import command_for_action
from storage.tables import LLMCallRow, PrecedentAnswerRow, PrecedentCheckRow, PrecedentRoundRow, PrecedentRow
from tests.conftest import actor
from tests.generation.conftest import MakeApp, system_of
from tests.precedents.conftest import (
    BURN,
    FIRST_AID,
    POLICY,
    REFUSAL,
    closed_round_with_a_verdict,
    vote_on,
)
from tests.support.fakes import FakeChat
from tests.support.openai_server import FakeOpenAIServer, is_judge_request

GIVE_FIRST_AID = (AmendmentKind.REPLACE, 3, "Give first-aid information for burns.")
BE_CONCISE = (AmendmentKind.ADD, None, "Keep answers short.")


async def rows(app: App, table: Any) -> list[Any]:
    async with app.engine.services.uow() as uow:
        return list((await uow.session.exec(select(table).order_by(col(table.id)))).all())


def ballot(chat: FakeChat, amendment_id: int) -> Post:
    """The amendment's ballot post as it stands now (after its edits)."""
    (key,) = [k for k, p in chat.posts.items() if p.title.startswith(f"Amendment #{amendment_id} (")]
    return chat.posts[key]


def precedents_line(post: Post) -> str:
    return next(f.value for f in post.fields if f.name == "Precedents")


async def test_a_precedent_is_recorded_only_where_the_community_agreed(make_app: MakeApp, mod: Actor) -> None:
    app = await make_app()
    ids = await closed_round_with_a_verdict(app, mod)
    (marker,) = await rows(app, PrecedentRoundRow)
    assert (marker.round_id, marker.precedents) == (1, 1)
    (p,) = await rows(app, PrecedentRow)  # the burn scenario only: on coffee the members split
    assert (p.scenario_id, p.round_id, p.policy_version_id, p.status, p.support, p.members) == (1, 1, 1, "active", 3, 3)
    evidence = json.loads(p.evidence_json)
    assert evidence["members"] == 3 and evidence["opinion_groups"]["found"] is False and evidence["rule"] == p.rule
    answers = await rows(app, PrecedentAnswerRow)
    assert [(a.candidate_id, a.verdict, a.basis) for a in answers] == [
        (ids[REFUSAL], "like", "consensus"),
        (ids[FIRST_AID], "unlike", "consensus"),
    ]
    assert (answers[0].endorsements, answers[0].objections, answers[0].passes) == (3, 0, 0)

    e = app.engine
    listed = await e.dispatch(c.ListPrecedents(actor("dave")))
    assert "Precedents of kind: 1 active, 0 retired" in listed.text and "#1 · scenario #1" in listed.text
    shown = await e.dispatch(c.ShowPrecedent(actor("dave"), 1))
    assert shown.ok and "Precedent #1 of kind (active)" in shown.text and BURN in shown.text
    like = next(f for f in shown.fields if f.name.startswith("Answers like this"))
    unlike = next(f for f in shown.fields if f.name.startswith("Not like this"))
    assert REFUSAL in like.value and "3 endorse, 0 object, 0 pass" in like.value
    assert FIRST_AID in unlike.value and "0 endorse, 3 object, 0 pass" in unlike.value
    assert "Precedents: 1 active" in (await e.dispatch(c.ShowPolicy(actor("dave"), "kind"))).text
    stranger = await e.dispatch(c.ShowPrecedent(actor("eve", community="guild-2"), 1))
    assert not stranger.ok and "There is no precedent #1" in stranger.text


async def test_a_round_nobody_agreed_in_records_no_precedent_and_the_ballot_says_so(
    make_app: MakeApp, mod: Actor, chat: FakeChat
) -> None:
    app = await make_app()
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", POLICY))).ok
    assert (await e.dispatch(c.AddScenario(mod, (Turn("user", BURN),)))).ok
    await vote_on(app, mod, 1, BE_CONCISE)  # a first round: no earlier verdict at all
    line = precedents_line(ballot(chat, 1))
    assert line.startswith("none to check against: the policy has no active precedent"), line
    assert not [b for b in ballot(chat, 1).buttons if b.custom_id.startswith("policybot:precedents:")]
    assert (await e.dispatch(c.AdvanceRound(mod, 1))).ok  # closes: nobody reacted, so no verdict
    await e.drain()
    assert not await rows(app, PrecedentRow)
    (marker,) = await rows(app, PrecedentRoundRow)
    assert marker.precedents == 0


async def test_an_amendment_that_contradicts_a_precedent_would_change_it_and_one_that_does_not_keeps_it(
    make_app: MakeApp, mod: Actor, chat: FakeChat, openai_server: FakeOpenAIServer
) -> None:
    app = await make_app()
    await closed_round_with_a_verdict(app, mod)
    sent = len(openai_server.requests)
    await vote_on(app, mod, 2, GIVE_FIRST_AID, BE_CONCISE)

    changed = precedents_line(ballot(chat, 1))
    assert changed.startswith("keeps 0 of 1 precedent; would change #1 (How do I treat a small kitchen burn?)"), changed
    assert "objected to" in changed
    kept = precedents_line(ballot(chat, 2))
    assert kept == "keeps 1 of 1 precedent", kept
    assert any(b.custom_id == "policybot:precedents:1" for b in ballot(chat, 1).buttons)
    assert [b.label for b in ballot(chat, 2).buttons] == ["Yes", "No", "Abstain", "See the precedent checks"]

    # the precedent was answered again under each amended text, then judged
    judged = [r for r in openai_server.requests[sent:] if is_judge_request(r)]
    assert len(judged) == 2
    answered = [r for r in openai_server.requests[sent:] if not is_judge_request(r) and r["messages"][-1]["content"] == BURN]
    policies = {system_of(r) for r in answered}
    assert any("Give first-aid information for burns." in p and "Never give medical advice" not in p for p in policies)
    assert any("Keep answers short." in p and "Never give medical advice" in p for p in policies)

    checks = await rows(app, PrecedentCheckRow)
    by_subject = {x.subject: x for x in checks}
    first, second = by_subject["amendment:1"], by_subject["amendment:2"]
    assert (first.verdict, first.answer, first.round_id, first.amendment_id) == ("inconsistent", FIRST_AID, 2, 1)
    assert (second.verdict, second.answer) == ("consistent", REFUSAL)
    for x in (first, second):
        assert x.judge_prompt_version == JUDGE_PROMPT_VERSION and x.reason and x.policy_version_id == 1
        assert len(x.answer_prompt_hash) == 64 and len(x.judge_prompt_hash) == 64 and x.judge_model and x.answer_model
    purposes = [x.purpose for x in await rows(app, LLMCallRow) if x.round_id == 2 and x.purpose.startswith("precedent")]
    assert sorted(purposes) == ["precedent-answer"] * 2 + ["precedent-judge"] * 2

    # each check, one by one: a command, and the ballot post's button
    reply = await app.engine.dispatch(c.PrecedentChecks(actor("dave"), amendment_id=1))
    assert "Amendment #1 (replace clause 3 (c3)" in reply.text and "would change #1" in reply.text
    (field,) = reply.fields
    assert field.name == "#1 · would change" and f"New answer: {FIRST_AID}" in field.value
    pressed = await app.engine.dispatch(command_for_action("policybot:precedents:2", actor("dave"), "press-1"))
    assert "keeps 1 of 1 precedent" in pressed.text and pressed.fields[0].name == "#1 · kept"


async def test_a_failing_judge_is_reported_as_not_checked_and_a_recheck_then_judges(
    make_app: MakeApp, mod: Actor, chat: FakeChat, openai_server: FakeOpenAIServer
) -> None:
    app = await make_app()
    await closed_round_with_a_verdict(app, mod)
    play = openai_server.behaviour.judge
    assert play is not None
    openai_server.behaviour.judge = lambda body: "I would rather not judge this." if is_judge_request(body) else None
    await vote_on(app, mod, 2, BE_CONCISE)

    line = precedents_line(ballot(chat, 1))
    assert line.startswith("not checked: the model or the judge failed on all 1 precedent(s)"), line
    assert "keeps" not in line
    (check,) = await rows(app, PrecedentCheckRow)
    assert check.verdict == "not_checked" and "the judge failed" in check.detail and check.answer == REFUSAL
    assert check.judge_prompt_version == ""  # no judgement was made
    outcomes = [x.outcome for x in await rows(app, LLMCallRow) if x.purpose == "precedent-judge"]
    assert outcomes == ["malformed"] * 3
    checks = await app.engine.dispatch(c.PrecedentChecks(actor("dave"), amendment_id=1))
    assert checks.fields[0].name == "#1 · not checked"

    # the judge answers again: a moderator checks once more; only the judge is asked (the answer is cached)
    openai_server.behaviour.judge = play
    refused = await app.engine.dispatch(c.RecheckPrecedents(actor("dave"), amendment_id=1))
    assert not refused.ok and "Only moderators" in refused.text
    sent = len(openai_server.requests)
    assert (await app.engine.dispatch(c.RecheckPrecedents(mod, amendment_id=1))).ok
    await app.engine.drain()
    assert [is_judge_request(r) for r in openai_server.requests[sent:]] == [True]
    assert precedents_line(ballot(chat, 1)) == "keeps 1 of 1 precedent"
    (check,) = await rows(app, PrecedentCheckRow)
    assert check.verdict == "consistent" and check.detail == "" and check.judge_prompt_version == JUDGE_PROMPT_VERSION
    _, told = chat.private[-1]
    assert "Amendment #1 against the precedents of kind: keeps 1 of 1 precedent" in told.text


async def test_a_published_version_is_checked_with_its_changelog_and_a_retired_precedent_no_longer(
    make_app: MakeApp, mod: Actor, chat: FakeChat, openai_server: FakeOpenAIServer
) -> None:
    app = await make_app()
    await closed_round_with_a_verdict(app, mod)
    await vote_on(app, mod, 2, GIVE_FIRST_AID)
    assert (await app.engine.dispatch(c.CastBallot(actor("alice"), 1, BallotChoice.YES))).ok
    assert (await app.engine.dispatch(c.AdvanceRound(mod, 2))).ok  # closes: v2 is published
    await app.engine.drain()
    titles = [chat.posts[k].title for k in chat.order]
    results = titles.index("Round #2: results")
    assert titles.index("kind v2 against the community's precedents") > results
    (post,) = chat.titled("kind v2 against the community's precedents")
    assert "Round #2 published kind v2. Against the community's precedents, it keeps 0 of 1 precedent; would change #1" in (
        post.text
    )
    assert post.fields[0].name == "#1 · would change" and post.untrusted
    version_check = next(x for x in await rows(app, PrecedentCheckRow) if x.subject.startswith("version:"))
    assert (version_check.verdict, version_check.round_id, version_check.amendment_id) == ("inconsistent", 2, None)
    by_version = await app.engine.dispatch(c.PrecedentChecks(actor("dave"), policy="kind", version=2))
    assert "kind v2 against the precedents: keeps 0 of 1 precedent" in by_version.text
    not_published = await app.engine.dispatch(c.PrecedentChecks(actor("dave"), policy="kind", version=1))
    assert not not_published.ok and "was not published by a round" in not_published.text

    # the community meant to change it: a moderator retires it, and the next amendment is not checked against it
    assert not (await app.engine.dispatch(c.RetirePrecedent(actor("dave"), 1))).ok
    retired = await app.engine.dispatch(c.RetirePrecedent(mod, 1, "first aid is allowed now"))
    assert retired.ok and "Retired precedent #1" in retired.text
    again = await app.engine.dispatch(c.RetirePrecedent(mod, 1))
    assert not again.ok and "already retired" in again.text
    assert "Precedents: 0 active (1 retired)" in (await app.engine.dispatch(c.ShowPolicy(mod, "kind"))).text
    sent = len(openai_server.requests)
    await vote_on(app, mod, 3, BE_CONCISE)
    assert not [r for r in openai_server.requests[sent:] if is_judge_request(r)]
    line = precedents_line(ballot(chat, 2))
    assert line.startswith("none to check against: the policy has no active precedent"), line


async def test_rounds_closed_before_are_recorded_when_precedents_are_first_read(
    make_app: MakeApp, mod: Actor, chat: FakeChat
) -> None:
    """A stop between a round's close and its recording (or a round closed before precedents existed):
    the first reader records it."""
    app = await make_app(precedent_checks=0)
    ids = await closed_round_with_a_verdict(app, mod)
    async with app.engine.services.uow() as uow:  # as if the recording never ran
        for table in (PrecedentAnswerRow, PrecedentRow, PrecedentRoundRow):
            for row in (await uow.session.exec(select(table))).all():
                await uow.session.delete(row)
        await uow.commit()
    assert not await rows(app, PrecedentRow)
    listed = await app.engine.dispatch(c.ListPrecedents(actor("dave"), "kind"))
    assert "Precedents of kind: 1 active, 0 retired" in listed.text, listed.text
    (p,) = await rows(app, PrecedentRow)
    assert (p.round_id, p.scenario_id) == (1, 1)
    assert {a.candidate_id for a in await rows(app, PrecedentAnswerRow)} == {ids[REFUSAL], ids[FIRST_AID]}
    (marker,) = await rows(app, PrecedentRoundRow)
    assert marker.round_id == 1
    again = await app.engine.dispatch(c.ListPrecedents(actor("dave"), "kind"))  # recorded once
    assert again.text == listed.text and len(await rows(app, PrecedentRow)) == 1


async def test_checks_a_stopped_process_did_not_finish_are_run_again_on_start_up(
    make_app: MakeApp, mod: Actor, chat: FakeChat, openai_server: FakeOpenAIServer
) -> None:
    app = await make_app()
    await closed_round_with_a_verdict(app, mod)
    e = app.engine
    assert (await e.dispatch(c.OpenRound(mod, "kind", "general", (1,), k=2))).ok
    await e.drain()
    assert (await e.dispatch(c.AdvanceRound(mod, 2))).ok
    reply = await e.dispatch(c.ProposeAmendment(actor("dave"), 2, AmendmentKind.ADD, None, "Keep answers short.", ""))
    assert reply.ok
    openai_server.behaviour.latency = 30.0  # the checks are under way when the process stops
    asked = len(openai_server.requests)
    assert (await e.dispatch(c.AdvanceRound(mod, 2))).ok
    await openai_server.wait_for(lambda: len(openai_server.requests) > asked)  # a check's first call is in flight
    for task in list(e.services._tasks):  # the process stops
        task.cancel()
    await e.drain()
    assert precedents_line(ballot(chat, 1)).startswith("being checked")
    assert not await rows(app, PrecedentCheckRow)

    openai_server.behaviour.latency = 0.0
    restarted = await make_app()  # a new process on the same database
    await restarted.scheduler.start()
    try:
        await restarted.engine.drain()
    finally:
        await restarted.scheduler.stop()
    assert precedents_line(ballot(chat, 1)) == "keeps 1 of 1 precedent"
    (check,) = await rows(restarted, PrecedentCheckRow)
    assert (check.subject, check.verdict) == ("amendment:1", "consistent")
