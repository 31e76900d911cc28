"""Posts are part of the state change, on SQLite and PostgreSQL: what a transition decides to post is
in the outbox with it, delivered in order after the commit, again after a restart and on resume;
the platform refusing is surfaced with the fix; replies are true; a replayed request acts once."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import pytest
from sqlmodel import col, func, select

from bot.bootstrap import App, bootstrap
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, Turn
from bot.domain.outputs import FAILED_AFTER_CHANGE, INTERNAL_ERROR, Post
from bot.ports import Refusal
from bot.rounds.outbox import deliver_everything
from bot.settings import Settings
from storage.database import Database
from storage.tables import AmendmentRow, CandidateRow, OutboxRow, RoundRow
from tests.conftest import actor
from tests.integration.test_round_lifecycle import POLICY, setup_round
from tests.support.fakes import FakeChat, FakeGenerator, FixedClock

REFUSAL = Refusal("policybot is not a member of #general", "invite @policybot to #general")


@pytest.fixture
async def make_app(database: Database, clock: FixedClock) -> AsyncIterator[Callable[[FakeChat], App]]:
    """Apps on the same database, as the same bot started again after a stop."""
    apps: list[App] = []

    def make(chat: FakeChat) -> App:
        settings = Settings(database_url=database.url, sampling="independent", max_drafts=0, preview=False)
        app = bootstrap(settings, chat, generator=FakeGenerator(), clock=clock, database=database)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.engine.close()


async def pending(app: App) -> int:
    async with app.engine.services.uow() as uow:
        return (
            await uow.session.exec(select(func.count()).select_from(OutboxRow).where(col(OutboxRow.delivered_at).is_(None)))
        ).one()


async def the_round(app: App) -> RoundRow:
    async with app.engine.services.uow() as uow:
        r = await uow.session.get(RoundRow, 1)
    assert r is not None
    return r


async def test_posts_left_by_a_stop_are_delivered_on_start_up_in_order(make_app: Callable[[FakeChat], App], mod: Actor) -> None:
    broken = FakeChat()
    broken.fail = lambda post: ConnectionError("the process stopped") if "Candidate" in post.title else None
    first = make_app(broken)
    await setup_round(first, mod, k=2)
    r = await the_round(first)
    # committed with its candidates; the posts from the first failed one on wait, in order
    assert r.phase == "review" and await pending(first) == 5
    assert r.paused_remaining_seconds is not None  # the clock stopped: members could not react yet
    told = [reply.text for who, reply in broken.private if who.member == mod.member]
    assert any("/round resume 1" in t and "Posting" in t for t in told), told

    fresh = FakeChat()  # the bot started again
    fresh._ids = itertools.count(100)
    second = make_app(fresh)
    await second.scheduler.start()
    await second.scheduler.stop()
    assert await pending(second) == 0
    assert len(fresh.keys_of("candidate")) == 4 and len(fresh.keys_of("round_scenario")) == 1  # only what was missing
    assert not fresh.keys_of("round")  # the announcement went out before the stop: not again
    async with second.engine.services.uow() as uow:
        keys = (await uow.session.exec(select(CandidateRow.message_key))).all()
    assert all(keys)  # each candidate's message remembered: reactions on them count
    scenario_keys = set(broken.keys_of("round_scenario").values()) | set(fresh.keys_of("round_scenario").values())
    assert {fresh.posts[k].thread_parent for k in fresh.keys_of("candidate").values()} == scenario_keys


async def test_a_refused_channel_is_refused_before_anything_is_stored(app: App, mod: Actor, chat: FakeChat) -> None:
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", POLICY))).ok
    assert (await e.dispatch(c.AddScenario(mod, (Turn("user", "Hello?"),)))).ok
    chat.cannot_post["general"] = REFUSAL
    reply = await e.dispatch(c.OpenRound(mod, "kind", "general", (1,), k=2))
    assert not reply.ok and "invite @policybot to #general" in reply.text and "Nothing was stored" in reply.text
    async with app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(func.count()).select_from(RoundRow))).one() == 0
    assert app.engine.services.generator.calls == []  # type: ignore[attr-defined]


async def test_a_refusal_later_pauses_the_round_tells_the_opener_and_resume_delivers(
    app: App, mod: Actor, chat: FakeChat
) -> None:
    await setup_round(app, mod, k=2)
    other = actor("other", moderator=True)
    chat.refuse_posts["general"] = REFUSAL
    reply = await app.engine.dispatch(c.AdvanceRound(other, 1))
    assert "moved to AMEND" in reply.text and "invite @policybot to #general" in reply.text, reply.text
    assert INTERNAL_ERROR not in reply.text and not reply.ok
    r = await the_round(app)
    assert r.phase == "amend" and r.paused_remaining_seconds is not None and r.phase_ends_at is None
    told = [reply.text for who, reply in chat.private if who.member == mod.member]  # the opener, who did not act
    assert any("invite @policybot" in t and "/round resume 1" in t for t in told), told

    still = await app.engine.dispatch(c.ResumePhase(other, 1))  # not fixed yet: stays paused, says why
    assert not still.ok and "stays paused" in still.text
    del chat.refuse_posts["general"]
    resumed = await app.engine.dispatch(c.ResumePhase(other, 1))
    assert resumed.ok and "running again" in resumed.text and "missing" in resumed.text, resumed.text
    assert chat.titled("Round #1: amendments are open") and await pending(app) == 0
    r = await the_round(app)
    assert r.paused_remaining_seconds is None and r.phase_ends_at is not None


async def test_a_change_that_committed_is_never_reported_as_nothing_changed(app: App, mod: Actor, chat: FakeChat) -> None:
    await setup_round(app, mod, k=2)
    alice = actor("alice")
    assert (await app.engine.dispatch(c.AdvanceRound(mod, 1))).ok
    assert (await app.engine.dispatch(c.ProposeAmendment(alice, 1, AmendmentKind.ADD, None, "Be brief."))).ok
    chat.fail = lambda post: RuntimeError("Discord 500") if "vote is open" in post.title else None
    reply = await app.engine.dispatch(c.AdvanceRound(mod, 1))
    assert "moved to VOTE" in reply.text and INTERNAL_ERROR not in reply.text, reply.text
    assert (await the_round(app)).phase == "vote"
    chat.fail = None
    retried = await app.engine.dispatch(c.RetryScenarios(mod, 1))  # /round retry posts what is missing
    assert retried.ok and chat.titled("Round #1: the vote is open") and chat.titled("Amendment #1"), retried.text


async def test_a_failure_after_a_commit_says_so(app: App, mod: Actor) -> None:
    await setup_round(app, mod, k=2)
    from bot.handlers import amendments

    real = amendments.propose_amendment

    async def propose_then_fail(cmd: c.ProposeAmendment, svc: object) -> object:
        await real(cmd, svc)  # type: ignore[arg-type]
        raise RuntimeError("a bug after the commit")

    engine = app.engine
    handlers = dict(engine.handlers)
    handlers[c.ProposeAmendment] = propose_then_fail  # type: ignore[assignment]
    engine.handlers = handlers
    reply = await engine.dispatch(c.ProposeAmendment(mod, 1, AmendmentKind.ADD, None, "Be brief."))
    assert reply.text == FAILED_AFTER_CHANGE  # not "nothing was changed": the amendment is stored
    async with app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(func.count()).select_from(AmendmentRow))).one() == 1


async def test_a_replayed_request_acts_once_and_answers_the_same(app: App, mod: Actor) -> None:
    await setup_round(app, mod, k=2)
    alice = actor("alice")
    propose = c.ProposeAmendment(alice, 1, AmendmentKind.ADD, None, "Be brief.", request_key="slack:command:T1")
    first, second = await asyncio.gather(app.engine.dispatch(propose), app.engine.dispatch(propose))
    third = await app.engine.dispatch(propose)
    assert first.ok and first.text == second.text == third.text
    advance = c.AdvanceRound(mod, 1, request_key="discord:interaction:42")
    moved, again = await app.engine.dispatch(advance), await app.engine.dispatch(advance)
    assert "moved to AMEND" in moved.text and again.text == moved.text
    async with app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(func.count()).select_from(AmendmentRow))).one() == 1
    assert (await the_round(app)).phase == "amend"  # not VOTE: the second advance did nothing
    other = await app.engine.dispatch(c.ProposeAmendment(alice, 1, AmendmentKind.ADD, None, "Be kind.", request_key="T2"))
    assert other.ok and "#2" in other.text  # a new request is a new request


async def test_outcome_posts_and_the_outbox_json_round_trip() -> None:
    from bot.domain.model import Stance
    from bot.domain.outputs import Attachment, Button, Field, Subject, post_from_json, post_to_json

    post = Post(
        "c",
        "t",
        "x\u0301",
        (Field("a", "b", True),),
        (Button("policybot:best:1", "⭐"),),
        (Stance.ENDORSE,),
        "c:1",
        "thread",
        Attachment("f.png", b"\x00\x01", "image/png"),
        Subject("candidate", 3),
        True,
    )
    assert post_from_json(post_to_json(post)) == post


async def test_two_processes_on_one_database_deliver_each_post_once(database: Database, clock: FixedClock, mod: Actor) -> None:
    """Two bot processes (shards, HTTP workers) catch up on the same pending posts at the same time:
    each post goes out once, from one of them, and none is lost."""
    broken = FakeChat()
    broken.fail = lambda post: ConnectionError("the process stopped") if "Candidate" in post.title else None
    settings = Settings(database_url=database.url, sampling="independent", max_drafts=0, preview=False)
    first = bootstrap(settings, broken, generator=FakeGenerator(), clock=clock, database=database)
    await setup_round(first, mod, k=2)
    assert await pending(first) == 5

    class SlowChat(FakeChat):
        async def post(self, post: Post, *, delivery_key: str = "") -> str:
            await asyncio.sleep(0.01)  # the platform call: the other process runs meanwhile
            return await super().post(post, delivery_key=delivery_key)

    chats = (SlowChat(), SlowChat())
    chats[1]._ids = itertools.count(500)
    apps = [
        bootstrap(
            settings.model_copy(update={"instance": name}),
            chat,
            generator=FakeGenerator(),
            clock=clock,
            database=Database(database.url),
        )
        for name, chat in zip(("shard-0", "shard-1"), chats, strict=True)
    ]
    try:
        await asyncio.gather(*(a.scheduler.start() for a in apps))
        for a in apps:
            await a.scheduler.stop()
        await asyncio.gather(*(deliver_everything(a.engine.services) for a in apps))  # a second pass finds nothing held
        assert await pending(apps[0]) == 0
        posted = [p.title for chat in chats for p in chat.posts.values()]
        assert len(posted) == 5 and len(set(posted)) == 5, posted  # four candidates and the scenario, once each
    finally:
        for a in (first, *apps):
            await a.close()
