"""A whole round through the engine with fakes of the ports, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import col, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance, Turn
from storage.tables import CandidateRow, ReactionEventRow, RoundRow
from tests.conftest import actor
from tests.support.fakes import FakeChat, FakeGenerator

POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."


async def setup_round(app: App, mod: Actor, k: int = 3) -> int:
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", POLICY))).ok
    assert (await e.dispatch(c.AddScenario(mod, (Turn("user", "How do I treat a burn?"),)))).ok
    assert (await e.dispatch(c.AddScenario(mod, (Turn("user", "Is coffee healthy?"),)))).ok
    reply = await e.dispatch(c.OpenRound(mod, "kind", "general", (1, 2), k=k))
    assert reply.ok, reply.text
    await e.drain()
    return 1


async def test_full_round_publishes_new_version(app: App, mod: Actor, chat: FakeChat, generator: FakeGenerator) -> None:
    e = app.engine
    round_id = await setup_round(app, mod)
    assert len(generator.calls) == 6
    candidates = chat.keys_of("candidate")
    assert len(candidates) == 6
    alice, bob, carol = actor("alice"), actor("bob"), actor("carol")
    first = min(candidates)
    for i, who in enumerate((alice, bob, carol)):
        r = await e.dispatch(c.RecordReaction(who, Stance.ENDORSE, f"evt-{i}", message_key=candidates[first]))
        assert r.ok, r.text
    # duplicate delivery of the same platform event is recorded once
    dup = await e.dispatch(c.RecordReaction(alice, Stance.ENDORSE, "evt-0", message_key=candidates[first]))
    assert dup.ok and "already" in dup.text

    assert (await e.dispatch(c.AdvanceRound(mod, round_id))).ok
    r = await e.dispatch(
        c.ProposeAmendment(
            alice, round_id, AmendmentKind.REPLACE, 3, "Give general first-aid information, and suggest a doctor.", "too strict"
        )
    )
    assert r.ok, r.text
    r = await e.dispatch(c.ProposeAmendment(bob, round_id, AmendmentKind.ADD, None, "Be concise.", ""))
    assert r.ok, r.text
    assert (await e.dispatch(c.AdvanceRound(mod, round_id))).ok
    assert len(chat.titled("Amendment #")) >= 2
    for who, choice in ((alice, BallotChoice.YES), (bob, BallotChoice.YES), (carol, BallotChoice.NO)):
        assert (await e.dispatch(c.CastBallot(who, 1, choice))).ok
    # carol changes her mind; only her latest ballot counts
    assert (await e.dispatch(c.CastBallot(carol, 1, BallotChoice.YES))).ok
    assert (await e.dispatch(c.CastBallot(alice, 2, BallotChoice.NO))).ok
    closed = await e.dispatch(c.AdvanceRound(mod, round_id))
    assert closed.ok and "v2" in closed.text, closed.text
    shown = await e.dispatch(c.ShowPolicy(mod, "kind"))
    assert "Give general first-aid information" in shown.text
    assert "Be concise" not in shown.text  # 0 yes, 1 no
    assert "3=c3" in shown.text  # the replaced clause keeps its id
    diff = await e.dispatch(c.DiffPolicy(mod, "kind", 1, 2))
    assert "~ 3." in diff.text
    history = await e.dispatch(c.PolicyHistory(mod, "kind"))
    assert "amendment" in history.text.lower() or "#1" in history.text
    late = await e.dispatch(c.CastBallot(bob, 1, BallotChoice.NO))
    assert not late.ok and "closed" in late.text
    async with app.engine.services.uow() as uow:
        events = (await uow.session.exec(select(ReactionEventRow))).all()
        assert len(events) == 3
        r_row = (await uow.session.exec(select(RoundRow))).one()
        assert r_row.phase == "closed" and r_row.result_version_id is not None


async def test_advance_is_compare_and_set(app: App, mod: Actor) -> None:
    from bot.domain.model import Phase
    from bot.rounds.lifecycle import advance

    round_id = await setup_round(app, mod, k=2)
    first = await advance(app.engine.services, round_id, Phase.REVIEW)
    second = await advance(app.engine.services, round_id, Phase.REVIEW)
    assert first.changed and not second.changed


async def test_unreachable_model_cancels_round(app: App, mod: Actor, chat: FakeChat, generator: FakeGenerator) -> None:
    generator.unavailable = True
    await setup_round(app, mod, k=2)
    assert not chat.posts
    actor_, reply = chat.private[-1]
    assert actor_ == mod and "fake/model" in reply.text and "POLICYBOT_MODEL" in reply.text
    async with app.engine.services.uow() as uow:
        r = (await uow.session.exec(select(RoundRow))).one()
        assert r.phase == "cancelled"
        assert not (await uow.session.exec(select(CandidateRow))).all()


async def test_partial_failure_names_failed_scenario(app: App, mod: Actor, chat: FakeChat, generator: FakeGenerator) -> None:
    generator.fail_when = "coffee"
    await setup_round(app, mod, k=2)
    _, reply = chat.private[-1]
    assert "#2" in reply.text and not reply.ok
    async with app.engine.services.uow() as uow:
        rows = (await uow.session.exec(select(CandidateRow).order_by(col(CandidateRow.id)))).all()
        assert {r.scenario_id for r in rows} == {1}
