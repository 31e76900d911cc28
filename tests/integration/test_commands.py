"""Each command's rules through the engine, on SQLite and PostgreSQL: bad input is refused with a
clear message and changes nothing."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance, Turn
from tests.conftest import actor
from tests.support.fakes import FakeChat

POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."


async def snapshot(app: App) -> dict[str, int]:
    """Row counts of every table: 'changes nothing' means this is equal before and after."""
    counts = {}
    async with app.engine.services.uow() as uow:
        for table in SQLModel.metadata.sorted_tables:
            counts[table.name] = (await uow.session.exec(select(func.count()).select_from(table))).one()
    return counts


async def ready(app: App, mod: Actor) -> None:
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", POLICY))).ok
    assert (await e.dispatch(c.AddScenario(mod, (Turn("user", "Hello?"),)))).ok


async def open_round(app: App, mod: Actor) -> None:
    assert (await app.engine.dispatch(c.OpenRound(mod, "kind", "general", (1,), k=2))).ok
    await app.engine.drain()


async def refused(app: App, cmd: c.Command, match: str) -> None:
    before = await snapshot(app)
    reply = await app.engine.dispatch(cmd)
    assert not reply.ok, reply.text
    assert match.lower() in reply.text.lower(), reply.text
    assert await snapshot(app) == before


async def test_policy_rules(app: App, mod: Actor) -> None:
    await ready(app, mod)
    member = actor("alice")
    await refused(app, c.CreatePolicy(member, "other", POLICY), "Only moderators")
    await refused(app, c.CreatePolicy(mod, "kind", POLICY), "already exists")
    await refused(app, c.CreatePolicy(mod, "bad name", POLICY), "not a valid policy name")
    await refused(app, c.CreatePolicy(mod, "empty", "   "), "no clauses")
    await refused(app, c.CreatePolicy(mod, "huge", "1. " + "x" * 4001), "limit is 4,000")
    await refused(app, c.ShowPolicy(mod, "nope"), "no policy named 'nope'")
    await refused(app, c.ShowPolicy(mod, "kind", 7), "no version 7")
    await refused(app, c.DiffPolicy(mod, "kind", 1, 3), "no version 3")
    listed = await app.engine.dispatch(c.ListPolicies(member))
    assert "kind (v1)" in listed.text


async def test_policies_are_scoped_to_their_community(app: App, mod: Actor) -> None:
    await ready(app, mod)
    stranger = actor("eve", moderator=True, community="guild-2")
    await refused(app, c.ShowPolicy(stranger, "kind"), "no policy named")
    assert (await app.engine.dispatch(c.CreatePolicy(stranger, "kind", POLICY))).ok  # same name, other community


async def test_scenario_rules_and_import(app: App, mod: Actor) -> None:
    await ready(app, mod)
    alice, bob = actor("alice"), actor("bob")
    await refused(app, c.AddScenario(alice, ()), "empty")
    await refused(app, c.AddScenario(alice, (Turn("user", "hi"), Turn("assistant", "hello"))), "must end with a user turn")
    await refused(app, c.AddScenario(alice, (Turn("system", "x"),)), "role 'system'")
    await refused(app, c.AddScenario(alice, (Turn("user", "y" * 4001),)), "limit is 4,000")
    assert (await app.engine.dispatch(c.AddScenario(alice, (Turn("user", "Mine"),)))).ok
    await refused(app, c.RemoveScenario(bob, 2), "Only the member who added")
    await refused(app, c.RemoveScenario(bob, 99), "no scenario #99")
    assert (await app.engine.dispatch(c.RemoveScenario(alice, 2))).ok
    assert "#2" not in (await app.engine.dispatch(c.ListScenarios(bob))).text

    jsonl = "\n".join(
        [
            json.dumps({"prompt": "One?"}),
            json.dumps(
                {
                    "title": "chat",
                    "messages": [
                        {"role": "user", "content": "a"},
                        {"role": "assistant", "content": "b"},
                        {"role": "user", "content": "c"},
                    ],
                }
            ),
        ]
    )
    reply = await app.engine.dispatch(c.ImportScenarios(alice, jsonl))
    assert reply.ok and "Imported 2" in reply.text, reply.text
    reply = await app.engine.dispatch(c.ImportScenarios(alice, "First prompt\n\nuser: x\nassistant: y\nuser: z\n", "text"))
    assert reply.ok and "Imported 2" in reply.text, reply.text
    await refused(app, c.ImportScenarios(alice, json.dumps({"prompt": "ok"}) + "\n{broken"), "Line 2 is not valid JSON")
    await refused(app, c.ImportScenarios(alice, json.dumps({"text": "x"})), "needs 'prompt'")
    await refused(app, c.ImportScenarios(alice, ""), "empty")


async def test_round_rules(app: App, mod: Actor) -> None:
    await ready(app, mod)
    alice = actor("alice")
    await refused(app, c.OpenRound(alice, "kind", "general", (1,)), "Only moderators")
    await refused(app, c.OpenRound(mod, "nope", "general", (1,)), "no policy named")
    await refused(app, c.OpenRound(mod, "kind", "general", (1, 5)), "Unknown scenario(s): #5")
    await refused(app, c.OpenRound(mod, "kind", "general", ()), "at least one scenario")
    await refused(app, c.OpenRound(mod, "kind", "general", (1,), k=1), "k must be between")
    await refused(app, c.OpenRound(mod, "kind", "general", (1,), review="-3h"), "not a duration")
    await refused(app, c.OpenRound(mod, "kind", "general", (1,), threshold="most"), "not a threshold")
    await refused(app, c.AdvanceRound(mod, 1), "no round #1")
    await open_round(app, mod)
    await refused(app, c.OpenRound(mod, "kind", "general", (1,)), "still running")
    await refused(app, c.AdvanceRound(alice, 1), "Only moderators")
    await refused(app, c.CancelRound(alice, 1), "Only moderators")
    await refused(app, c.CastBallot(alice, 1, BallotChoice.YES), "no amendment #1")
    status = await app.engine.dispatch(c.RoundStatus(alice))
    assert status.ok and "REVIEW" in status.text and "2 candidate(s)" in status.text
    assert (await app.engine.dispatch(c.CancelRound(mod, 1))).ok
    await refused(app, c.CancelRound(mod, 1), "CANCELLED")
    await refused(app, c.AdvanceRound(mod, 1), "CANCELLED")


async def test_amendment_and_ballot_rules(app: App, mod: Actor, chat: FakeChat) -> None:
    await ready(app, mod)
    await open_round(app, mod)
    alice, bob = actor("alice"), actor("bob")
    await refused(app, c.ProposeAmendment(alice, 1, AmendmentKind.REPLACE, 9, "x"), "1 to 3")
    await refused(app, c.ProposeAmendment(alice, 1, AmendmentKind.REPLACE, None, "x"), "by its number")
    await refused(app, c.ProposeAmendment(alice, 1, AmendmentKind.REPLACE, 1, "Be kind."), "same as clause 1")
    await refused(app, c.ProposeAmendment(alice, 1, AmendmentKind.ADD, 4, "x"), "no clause 4")
    await refused(app, c.ProposeAmendment(alice, 1, AmendmentKind.ADD, None, " "), "empty")
    await refused(app, c.ProposeAmendment(alice, 1, AmendmentKind.REMOVE, 1, "text"), "takes no clause text")
    await refused(app, c.ProposeAmendment(alice, 2, AmendmentKind.REMOVE, 1), "no round #2")
    assert (await app.engine.dispatch(c.ProposeAmendment(alice, 1, AmendmentKind.REMOVE, 2, "", "redundant"))).ok
    await refused(app, c.WithdrawAmendment(bob, 1), "Only the member who proposed")
    await refused(app, c.CastBallot(bob, 1, BallotChoice.YES), "only in VOTE")
    assert (await app.engine.dispatch(c.AdvanceRound(mod, 1))).ok  # → AMEND
    assert (await app.engine.dispatch(c.AdvanceRound(mod, 1))).ok  # → VOTE
    await refused(app, c.ProposeAmendment(alice, 1, AmendmentKind.ADD, None, "late"), "only in REVIEW or AMEND")
    await refused(app, c.WithdrawAmendment(alice, 1), "only in REVIEW or AMEND")
    ballot = await app.engine.dispatch(c.CastBallot(bob, 1, BallotChoice.YES, event_key="evt-1"))
    assert ballot.ok and "secret" in ballot.text
    listed = await app.engine.dispatch(c.ListAmendments(bob, 1))
    assert "yes" not in listed.text.split("—")[-1] or "—" not in listed.text  # no counts before close
    before = await snapshot(app)
    again = await app.engine.dispatch(c.CastBallot(bob, 1, BallotChoice.YES, event_key="evt-1"))
    assert again.ok and await snapshot(app) == before  # a redelivered button press counts once
    assert (await app.engine.dispatch(c.AdvanceRound(mod, 1))).ok  # → CLOSED
    await app.engine.drain()  # the close's background work (its precedents recorded) is not the refusal's
    await refused(app, c.CastBallot(bob, 1, BallotChoice.NO), "has closed")
    listed = await app.engine.dispatch(c.ListAmendments(bob, 1))
    assert "1 yes, 0 no, 0 abstain" in listed.text


async def test_reaction_rules(app: App, mod: Actor, chat: FakeChat) -> None:
    await ready(app, mod)
    await open_round(app, mod)
    alice = actor("alice")
    await refused(app, c.RecordReaction(alice, Stance.ENDORSE, "k1", message_key="not-a-candidate"), "not a candidate")
    await refused(app, c.RecordReaction(alice, Stance.ENDORSE, "k1", candidate_id=999), "not a candidate")
    stranger = actor("eve", community="guild-2")
    await refused(app, c.RecordReaction(stranger, Stance.ENDORSE, "k1", candidate_id=1), "not a candidate")
    await refused(app, c.RecordReaction(alice, Stance.ENDORSE, "", candidate_id=1), "event key")
    await refused(app, c.RecordReaction(alice, Stance.ENDORSE, "k2"), "exactly one")
    assert (await app.engine.dispatch(c.RecordReaction(alice, Stance.ENDORSE, "k1", candidate_id=1))).ok
    assert (await app.engine.dispatch(c.CancelRound(mod, 1))).ok
    await refused(app, c.RecordReaction(alice, Stance.OBJECT, "k3", candidate_id=1), "no longer recorded")


async def test_one_batch_tells_new_repeated_and_refused_reactions_apart(app: App, mod: Actor) -> None:
    """The batch's single insert checks the rounds' phases itself; what it skipped is then told
    apart: an event key stored before is a duplicate, a closed round's reaction is refused."""
    from bot.errors import CommandError
    from bot.rounds.recording import Recorded
    from storage.tables import ReactionEventRow

    await ready(app, mod)
    await open_round(app, mod)  # round 1: candidates 1 and 2
    assert (await app.engine.dispatch(c.CancelRound(mod, 1))).ok
    await open_round(app, mod)  # round 2: candidates 3 and 4
    alice, bob = actor("alice"), actor("bob")
    assert (await app.engine.dispatch(c.RecordReaction(alice, Stance.ENDORSE, "k-old", candidate_id=3))).ok
    results = await app.engine.services.recorder.write(
        [
            c.RecordReaction(bob, Stance.OBJECT, "k-new", candidate_id=4),
            c.RecordReaction(bob, Stance.OBJECT, "k-new", candidate_id=4),  # the platform sent it twice
            c.RecordReaction(alice, Stance.ENDORSE, "k-old", candidate_id=3),  # and this one again later
            c.RecordReaction(bob, Stance.PASS, "k-closed", candidate_id=1),
            c.RecordReaction(bob, Stance.PASS, "k-nowhere", candidate_id=999),
            c.RecordReaction(actor("eve", community="guild-2"), Stance.PASS, "k-stranger", candidate_id=3),
        ]
    )
    assert results[:3] == [Recorded(4, duplicate=False), Recorded(4, duplicate=True), Recorded(3, duplicate=True)]
    refusals = [str(r) for r in results[3:]]
    assert all(isinstance(r, CommandError) for r in results[3:]), results
    assert "Round #1 is cancelled; reactions are no longer recorded" in refusals[0]
    assert all("not a candidate of a round in this community" in r for r in refusals[1:])
    async with app.engine.services.uow() as uow:
        stored = (await uow.session.exec(select(ReactionEventRow.event_key, ReactionEventRow.member))).all()
    assert sorted(stored) == [("k-new", "bob"), ("k-old", "alice")]


async def test_a_reaction_is_stored_exactly_as_sent(app: App, mod: Actor) -> None:
    """The batch's rows travel as one JSON array on SQLite and as arrays on PostgreSQL: text that
    JSON escapes (quotes, backslashes, control characters, line separators, emoji, bidi overrides)
    comes back as it was sent."""
    from storage.tables import ReactionEventRow

    await ready(app, mod)
    await open_round(app, mod)
    odd = 'He said "no" \\ then\ttab\x01\u2028\u202e🙂 e\u0301 ' + "ß" * 300
    member = actor('m"\\ü🙂')
    reply = await app.engine.dispatch(c.RecordReaction(member, Stance.OBJECT, 'evt"\\🙂', candidate_id=1, reason=odd))
    assert reply.ok, reply.text
    async with app.engine.services.uow() as uow:
        row = (await uow.session.exec(select(ReactionEventRow))).one()
    assert (row.member, row.event_key, row.reason, row.round_id, row.candidate_id) == (
        'm"\\ü🙂',
        'evt"\\🙂',
        odd.strip(),
        1,
        1,
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_reactions_are_recorded_after_the_server_drops_their_connections(app: App, mod: Actor) -> None:
    """Reactions use connections that are not pinged before each batch: after PostgreSQL drops them
    (a restart, a failover), the batch that meets the dead connection is written again on a new one."""
    from sqlalchemy import text

    from storage.tables import ReactionEventRow

    await ready(app, mod)
    await open_round(app, mod)
    alice = actor("alice")
    assert (await app.engine.dispatch(c.RecordReaction(alice, Stance.ENDORSE, "k1", candidate_id=1))).ok
    async with app.database.engine.connect() as conn:
        dropped = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        ).scalar_one()
    assert dropped >= 1  # at least the reactions' connection
    reply = await app.engine.dispatch(c.RecordReaction(alice, Stance.OBJECT, "k2", candidate_id=2))
    assert reply.ok, reply.text
    async with app.engine.services.uow() as uow:
        keys = (await uow.session.exec(select(ReactionEventRow.event_key))).all()
    assert sorted(keys) == ["k1", "k2"]


async def test_member_written_response(app: App, mod: Actor, chat: FakeChat) -> None:
    await ready(app, mod)
    await open_round(app, mod)
    alice = actor("alice")
    reply = await app.engine.dispatch(c.ContributeResponse(alice, 1, 1, "I would say: run it under cool water."))
    assert reply.ok, reply.text
    human = [p for p in chat.posts.values() if p.subject and p.subject.kind == "candidate" and "written by a member" in p.title]
    assert len(human) == 1 and human[0].thread_parent is not None
    assert "alice" not in human[0].title.lower()  # never her platform id or name unless she chose to be named
    await refused(app, c.ContributeResponse(alice, 1, 1, "again"), "already contributed")
    await refused(app, c.ContributeResponse(alice, 1, 7, "x"), "not part of round")
    await refused(app, c.ContributeResponse(alice, 1, 1, ""), "empty")


@pytest.mark.parametrize("k", [2, 4])
async def test_generation_is_bounded_and_recorded(app: App, mod: Actor, k: int) -> None:
    from tests.support.fakes import FakeGenerator

    gen = app.engine.services.generator
    assert isinstance(gen, FakeGenerator)
    gen.delay = 0.01
    app.engine.services.options = dataclasses.replace(app.engine.services.options, llm_concurrency=3)
    await ready(app, mod)
    for i in range(4):
        assert (await app.engine.dispatch(c.AddScenario(mod, (Turn("user", f"Q{i}"),)))).ok
    assert (await app.engine.dispatch(c.OpenRound(mod, "kind", "general", (1, 2, 3, 4, 5), k=k))).ok
    await app.engine.drain()
    assert len(gen.calls) == 5 * k
    assert gen.max_in_flight <= 3
    from storage.tables import CandidateRow

    async with app.engine.services.uow() as uow:
        rows = (await uow.session.exec(select(CandidateRow))).all()
    assert len(rows) == 5 * k
    assert all(r.model == "fake/model" and r.prompt_hash and r.method and r.temperature is not None for r in rows)


async def test_a_reaction_whose_batch_fails_is_not_confirmed(app: App, mod: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    await ready(app, mod)
    await open_round(app, mod)
    recorder = app.engine.services.recorder

    async def broken(batch: list[object]) -> list[object]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(recorder, "write", broken)
    before = await snapshot(app)
    reply = await app.engine.dispatch(c.RecordReaction(actor("alice"), Stance.ENDORSE, "k-fail", candidate_id=1))
    assert not reply.ok and "could not be recorded" in reply.text
    assert await snapshot(app) == before
    monkeypatch.undo()
    again = await app.engine.dispatch(c.RecordReaction(actor("alice"), Stance.ENDORSE, "k-fail", candidate_id=1))
    assert again.ok and "already" not in again.text  # the platform's redelivery is then recorded
