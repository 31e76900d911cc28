"""Erasure in the cases around the whole round: an amendment the community adopted, an erasure in the
middle of a round (later drafting and voting never see her again), post edits that fail or meet a
post not yet delivered, and a late replay of one of her requests."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, func, select

from bot.bootstrap import App, bootstrap
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance, Turn
from bot.engine import ALREADY_HANDLED
from bot.ports import Completion, Prompt, Refusal
from bot.rounds.outbox import deliver_everything
from bot.settings import Settings
from storage.database import Database
from storage.tables import AmendmentRow, CandidateRow, ClauseRow, OutboxRow, ScenarioRow, TallyRow
from tests.conftest import actor
from tests.privacy.support import POLICY, EchoingGenerator, Her, post_texts, scan_database, scan_texts
from tests.support.fakes import FakeChat, FixedClock
from tests.support.openai_server import FakeOpenAIServer

HER = Her(member="U0ERIN42", name="Erin Quokka")


def erin() -> Actor:
    return Actor("test", "guild-1", HER.member, HER.name)


async def ok(app: App, cmd: c.Command) -> str:
    reply = await app.engine.dispatch(cmd)
    assert reply.ok, reply.text
    return reply.text


async def rows(app: App, table: Any) -> list[Any]:
    async with app.engine.services.uow() as uow:
        return list((await uow.session.exec(select(table).order_by(col(table.id)))).all())


async def open_round(app: App, *, her_scenario: bool = False) -> None:
    mod = actor("mod", moderator=True)
    await ok(app, c.CreatePolicy(mod, "kind", POLICY))
    await ok(app, c.AddScenario(mod, (Turn("user", "How do I treat a burn?"),)))
    ids: tuple[int, ...] = (1,)
    if her_scenario:
        await ok(app, c.AddScenario(erin(), (Turn("user", HER.scenario),)))
        ids = (1, 2)
    await ok(app, c.OpenRound(mod, "kind", "general", ids, k=2))
    await app.engine.drain()


def posted(chat: FakeChat) -> list[str]:
    return [h for key, post in chat.posts.items() for h in scan_texts(key, post_texts(post), HER)]


async def test_an_adopted_amendment_keeps_its_text_but_not_its_author(app: App, chat: FakeChat) -> None:
    mod = actor("mod", moderator=True)
    await open_round(app)
    await ok(app, c.PrivacyName(erin(), named=True))
    await ok(app, c.AdvanceRound(mod, 1))
    await ok(app, c.ProposeAmendment(erin(), 1, AmendmentKind.REPLACE, 1, HER.amendment, HER.rationale))
    await ok(app, c.AdvanceRound(mod, 1))
    for who in (erin(), actor("alice"), actor("bob")):
        await ok(app, c.CastBallot(who, 1, BallotChoice.YES, event_key=f"b-{who.member}"))
    assert "v2" in await ok(app, c.AdvanceRound(mod, 1))
    await app.engine.drain()
    assert any(HER.name in t for p in chat.posts.values() for t in post_texts(p))

    await ok(app, c.PrivacyErase(erin(), confirm=True))
    (a,) = await rows(app, AmendmentRow)
    assert (a.text, a.rationale, a.proposed_by, a.status) == (HER.amendment, "", "[erased]", "adopted")
    assert HER.amendment in [x.text for x in await rows(app, ClauseRow)]  # the community's policy now
    assert [(t.yes, t.no, t.adopted) for t in await rows(app, TallyRow)] == [(3, 0, True)]
    # what stays is the adopted text (the community's), never her name, id or rationale
    left = [h for h in posted(chat) + await scan_database(app.database, HER) if "'tamarind'" not in h]
    assert left == []
    ballot = chat.posts[a.message_key or ""]
    assert ballot.title.startswith(f"Amendment #{a.id} (proposed by a member)") and HER.amendment in ballot.text


async def test_erased_in_review_her_words_never_reach_the_drafts_or_the_vote(
    echo_app: App, chat: FakeChat, openai_server: FakeOpenAIServer
) -> None:
    app = echo_app
    mod = actor("mod", moderator=True)
    await open_round(app, her_scenario=True)
    cands = await rows(app, CandidateRow)
    for who, reason in ((erin(), HER.reason_endorse), (actor("alice"), "alice agrees"), (actor("bob"), "bob agrees")):
        for cand in cands:
            await ok(app, c.RecordReaction(who, Stance.ENDORSE, f"{who.member}-{cand.id}", cand.id, reason=reason))
    await ok(app, c.ContributeResponse(erin(), 1, 1, HER.response))
    await ok(app, c.PrivacyErase(erin(), confirm=True))
    sent = len(openai_server.requests)
    await ok(app, c.AdvanceRound(mod, 1))  # the bot drafts from what is left
    await app.engine.drain()
    drafting = [r for r in openai_server.requests[sent:] if '"amendments"' in str(r["messages"][0]["content"])]
    assert drafting and all(not HER.hits("draft request", str(r["messages"])) for r in drafting)
    assert "alice agrees" in str(drafting[0]["messages"])
    (scenario,) = [x for x in await rows(app, ScenarioRow) if x.id == 2]
    assert scenario.removed and scenario.created_by == "[erased]"
    assert await scan_database(app.database, HER) == [] and posted(chat) == []


async def test_erased_during_the_vote_her_amendment_leaves_the_ballot(app: App, chat: FakeChat) -> None:
    mod = actor("mod", moderator=True)
    await open_round(app)
    await ok(app, c.AdvanceRound(mod, 1))
    await ok(app, c.ProposeAmendment(erin(), 1, AmendmentKind.REPLACE, 1, HER.amendment, HER.rationale))
    await ok(app, c.ProposeAmendment(actor("alice"), 1, AmendmentKind.ADD, None, "Answer in plain language."))
    await ok(app, c.AdvanceRound(mod, 1))
    await ok(app, c.CastBallot(actor("bob"), 1, BallotChoice.YES, event_key="b-bob-1"))
    await ok(app, c.PrivacyErase(erin(), confirm=True))
    mine = (await rows(app, AmendmentRow))[0]
    assert mine.status == "withdrawn" and mine.text == ""
    ballot = chat.posts[mine.message_key or ""]
    assert ballot.buttons == () and "withdrawn" in ballot.title and HER.amendment not in ballot.text
    refused = await app.engine.dispatch(c.CastBallot(actor("carol"), 1, BallotChoice.YES, event_key="b-carol-1"))
    assert not refused.ok and "not on the ballot" in refused.text
    await ok(app, c.CastBallot(actor("bob"), 2, BallotChoice.YES, event_key="b-bob-2"))
    await ok(app, c.AdvanceRound(mod, 1))
    await app.engine.drain()
    assert [t.amendment_id for t in await rows(app, TallyRow)] == [2]  # hers is not tallied
    assert posted(chat) == [] and await scan_database(app.database, HER) == []


async def test_post_edits_go_through_the_outbox_and_survive_a_failure(app: App, chat: FakeChat) -> None:
    await open_round(app)
    await ok(app, c.PrivacyName(erin(), named=True))
    await ok(app, c.ContributeResponse(erin(), 1, 1, HER.response))
    written = (await rows(app, CandidateRow))[-1]
    assert written.message_key and HER.response in chat.posts[written.message_key].text

    real_edit = chat.edit

    async def broken(message_key: str, post: Any) -> None:
        raise ConnectionError("the platform is down")

    chat.edit = broken  # type: ignore[method-assign]
    reply = await app.engine.dispatch(c.PrivacyErase(erin(), confirm=True))
    assert reply.text.startswith("Erased:") and "not out yet" in reply.text  # committed, and says what failed
    assert HER.response in chat.posts[written.message_key].text
    async with app.engine.services.uow() as uow:
        waiting = (await uow.session.exec(select(func.count()).where(col(OutboxRow.delivered_at).is_(None)))).one()
    assert waiting == 1
    chat.edit = real_edit  # type: ignore[method-assign]
    await deliver_everything(app.engine.services)  # as at the next start-up
    assert chat.posts[written.message_key].title.endswith("erased") and posted(chat) == []


async def test_a_post_not_yet_delivered_goes_out_erased(app: App, chat: FakeChat) -> None:
    await open_round(app)
    chat.refuse_posts["general"] = Refusal("the bot may not post here", "give it Send Messages")
    reply = await app.engine.dispatch(c.ContributeResponse(erin(), 1, 1, HER.response))
    assert "candidate #3" in reply.text and "not out yet" in reply.text
    await ok(app, c.PrivacyErase(erin(), confirm=True))
    del chat.refuse_posts["general"]
    await ok(app, c.ResumePhase(actor("mod", moderator=True), 1))
    written = (await rows(app, CandidateRow))[-1]
    assert written.message_key and chat.posts[written.message_key].title.endswith("erased")
    assert posted(chat) == []  # her words never reached the platform


async def test_a_late_replay_of_her_request_acts_once(app: App) -> None:
    add = c.AddScenario(erin(), (Turn("user", HER.scenario),), request_key="slack:trig.1")
    await ok(app, add)
    await ok(app, c.PrivacyErase(erin(), confirm=True, request_key="slack:trig.2"))
    replay = await app.engine.dispatch(add)
    assert replay.text == ALREADY_HANDLED
    assert len(await rows(app, ScenarioRow)) == 1 and await scan_database(app.database, HER) == []


class GatedGenerator(EchoingGenerator):
    """Holds every request that carries `needle` until released, so a test can erase meanwhile."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def complete(self, prompt: Prompt) -> Completion:
        if any(self.needle in m.content for m in prompt.messages):
            self.entered.set()
            await self.release.wait()
        return await super().complete(prompt)


async def test_an_answer_arriving_after_her_erasure_is_not_kept(database: Database, chat: FakeChat, clock: FixedClock) -> None:
    generator = GatedGenerator("zebrawood")
    app = bootstrap(
        Settings(database_url=database.url, max_drafts=0, preview=False),
        chat,
        generator=generator,
        clock=clock,
        database=database,
    )
    try:
        mod = actor("mod", moderator=True)
        await ok(app, c.CreatePolicy(mod, "kind", POLICY))
        await ok(app, c.AddScenario(mod, (Turn("user", "How do I treat a burn?"),)))
        await ok(app, c.AddScenario(erin(), (Turn("user", HER.scenario),)))
        await ok(app, c.OpenRound(mod, "kind", "general", (1, 2), k=2))
        await generator.entered.wait()  # her scenario is with the model now
        await ok(app, c.PrivacyErase(erin(), confirm=True))
        generator.release.set()
        await app.engine.drain()
        assert {x.scenario_id for x in await rows(app, CandidateRow)} == {1}  # the round opened without it
        _, told = chat.private[-1]
        assert "#2" in told.text and "erased their data meanwhile" in told.text
        assert await scan_database(app.database, HER) == [] and posted(chat) == []
    finally:
        await app.engine.close()
