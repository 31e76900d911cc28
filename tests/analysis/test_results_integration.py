"""Results through the engine: posts when REVIEW and the round close, /round results for anyone,
the bridging tally rule with per-group counts, and small communities falling back to plain counts."""

from __future__ import annotations

import json

import pytest
from sqlmodel import col, func, select

from bot.analysis.results import MIN_REACTORS
from bot.analysis.state import KSmoother, PolisState
from bot.analysis.summary import round_summary
from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance, Turn
from bot.errors import CommandError
from bot.inbound.parser import parse
from storage.tables import CandidateRow, ReactionEventRow, RoundAnalysisRow, RoundPolisStateRow
from tests.conftest import actor
from tests.support.fakes import FakeChat

POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."
PROMPTS = ("How do I treat a burn?", "Is coffee healthy?", "Should I fast for a week?")
CAMP_A = [f"ann{i}" for i in range(6)]
CAMP_B = [f"bob{i}" for i in range(6)]


async def open_round(app: App, mod: Actor, bridging: int = 0) -> tuple[int, list[int]]:
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", POLICY))).ok
    for p in PROMPTS:
        assert (await e.dispatch(c.AddScenario(mod, (Turn("user", p),)))).ok
    reply = await e.dispatch(c.OpenRound(mod, "kind", "general", (1, 2, 3), k=3, bridging_min_voters=bridging))
    assert reply.ok, reply.text
    await e.drain()
    async with app.engine.services.uow() as uow:
        cands = [x.id or 0 for x in (await uow.session.exec(select(CandidateRow).order_by(col(CandidateRow.id)))).all()]
    assert len(cands) == 9, cands
    return 1, cands


async def react_in_camps(app: App, cands: list[int], camp_a: list[str], camp_b: list[str]) -> None:
    """Camp A endorses the first four candidates and objects to the rest; camp B the opposite; both
    endorse the last candidate (a consensus)."""
    for who in camp_a + camp_b:
        for i, cand in enumerate(cands):
            up = i < 4 if who in camp_a else i >= 4
            stance = Stance.ENDORSE if up or i == len(cands) - 1 else Stance.OBJECT
            r = await app.engine.dispatch(c.RecordReaction(actor(who), stance, f"{who}-{cand}", candidate_id=cand))
            assert r.ok, r.text


async def test_review_and_final_results_posts(app: App, mod: Actor, chat: FakeChat) -> None:
    round_id, cands = await open_round(app, mod)
    await react_in_camps(app, cands, CAMP_A, CAMP_B)
    assert (await app.engine.dispatch(c.AdvanceRound(mod, round_id))).ok  # REVIEW → AMEND
    [post] = chat.titled(f"Round #{round_id}: what members think after REVIEW")
    assert "12 members reacted" in post.text and "2 opinion groups of 6, 6 members" in post.text
    names = [f.name for f in post.fields]
    assert "Group 1 (6 members) stands for" in names and "Group 2 (6 members) stands for" in names
    consensus = next(f.value for f in post.fields if f.name.startswith("Consensus"))
    assert "S3·C: 12 of 12 votes endorse" in consensus  # the last candidate, endorsed by everyone
    divisive = next(f.value for f in post.fields if f.name.startswith("Divisive"))
    assert "S1·A" in divisive and "S3·C" not in divisive
    assert post.attachment is not None and post.attachment.data.startswith(b"\x89PNG")
    assert post.attachment.mime == "image/png"
    text = post.text + "".join(f.name + f.value for f in post.fields)
    assert not any(member in text for member in CAMP_A + CAMP_B)  # nobody's reactions are shown
    async with app.engine.services.uow() as uow:
        mark = (await uow.session.exec(select(RoundAnalysisRow))).one()
        assert mark.round_id == round_id and mark.k == 2 and mark.review_event_id > 0
        summary = await round_summary(uow.session, round_id)
        assert summary.groups_found and [g.size for g in summary.groups] == [6, 6]
        assert app.engine.services.opinion_groups is not None
        groups = await app.engine.services.opinion_groups(uow.session, round_id)
        assert len({groups[m] for m in CAMP_A}) == 1 and len({groups[m] for m in CAMP_B}) == 1
        assert groups[CAMP_A[0]] != groups[CAMP_B[0]]
    # a reaction after REVIEW does not move anyone's group: groups come from REVIEW reactions
    for cand in cands:
        r = await app.engine.dispatch(c.RecordReaction(actor("late"), Stance.ENDORSE, f"late-{cand}", candidate_id=cand))
        assert r.ok
    async with app.engine.services.uow() as uow:
        assert "late" not in await app.engine.services.opinion_groups(uow.session, round_id)
    # no amendment: AMEND → CLOSED, with the final results
    assert (await app.engine.dispatch(c.AdvanceRound(mod, round_id))).ok
    [final] = chat.titled(f"Round #{round_id}: final reactions")
    assert final.attachment is not None


async def test_round_results_for_anyone_without_revealing_reactions(app: App, mod: Actor) -> None:
    round_id, cands = await open_round(app, mod)
    await react_in_camps(app, cands, CAMP_A, CAMP_B)
    reply = await app.engine.dispatch(c.RoundResults(actor("passer-by")))
    assert reply.ok, reply.text
    assert reply.text.startswith(f"Round #{round_id}: reactions so far")
    assert reply.attachment is not None and reply.attachment.data.startswith(b"\x89PNG")
    shown = reply.text + "".join(f.name + f.value for f in reply.fields)
    assert "opinion groups" in shown and not any(m in shown for m in CAMP_A + CAMP_B)
    same = await app.engine.dispatch(c.RoundResults(actor("passer-by"), round_id))
    assert same.text == reply.text


async def test_results_refused_for_unknown_round(app: App, mod: Actor) -> None:
    await open_round(app, mod)
    reply = await app.engine.dispatch(c.RoundResults(actor("x"), 99))
    assert not reply.ok and "no round #99" in reply.text


async def test_too_few_reactors_show_nothing(app: App, mod: Actor) -> None:
    round_id, cands = await open_round(app, mod)
    await react_in_camps(app, cands, CAMP_A[:1], CAMP_B[:1])
    reply = await app.engine.dispatch(c.RoundResults(actor("x"), round_id))
    assert reply.ok and f"at least {MIN_REACTORS}" in reply.text
    assert reply.attachment is None and reply.fields == ()


async def test_small_community_gets_plain_counts(app: App, mod: Actor, chat: FakeChat) -> None:
    round_id, cands = await open_round(app, mod, bridging=2)
    await react_in_camps(app, cands, CAMP_A[:2], CAMP_B[:2])
    assert (await app.engine.dispatch(c.AdvanceRound(mod, round_id))).ok
    [post] = chat.titled(f"Round #{round_id}: what members think after REVIEW")
    assert "No opinion groups: only 4 member(s)" in post.text and "plain counts" in post.text
    counts = next(f.value for f in post.fields if f.name == "Counts")
    assert "S1·A: 2 endorse, 2 object, 0 pass" in counts
    # the bridging rule cannot apply without groups, and the result says so
    who = CAMP_A[:2] + CAMP_B[:2]
    r = await app.engine.dispatch(c.ProposeAmendment(actor(who[0]), round_id, AmendmentKind.ADD, None, "Be brief.", ""))
    assert r.ok, r.text
    assert (await app.engine.dispatch(c.AdvanceRound(mod, round_id))).ok
    for m in who:
        assert (await app.engine.dispatch(c.CastBallot(actor(m), 1, BallotChoice.YES))).ok
    closed = await app.engine.dispatch(c.AdvanceRound(mod, round_id))
    assert closed.ok and "v2" in closed.text
    [result] = chat.titled(f"Round #{round_id}: results")
    assert "bridging rule did not apply" in result.fields[0].value


async def test_bridging_rule_needs_every_group(app: App, mod: Actor, chat: FakeChat) -> None:
    round_id, cands = await open_round(app, mod, bridging=3)
    await react_in_camps(app, cands, CAMP_A, CAMP_B)
    assert (await app.engine.dispatch(c.AdvanceRound(mod, round_id))).ok
    e = app.engine
    assert (await e.dispatch(c.ProposeAmendment(actor("ann0"), round_id, AmendmentKind.ADD, None, "Be brief.", ""))).ok
    assert (await e.dispatch(c.ProposeAmendment(actor("bob0"), round_id, AmendmentKind.ADD, None, "Be warm.", ""))).ok
    assert (await e.dispatch(c.AdvanceRound(mod, round_id))).ok
    # amendment 1: all of camp A and two of camp B (8 of 12 yes overall); amendment 2: 5 of each camp
    for i, m in enumerate(CAMP_A + CAMP_B):
        first = BallotChoice.YES if m in CAMP_A or i % 6 < 2 else BallotChoice.NO
        second = BallotChoice.YES if i % 6 < 5 else BallotChoice.NO
        assert (await e.dispatch(c.CastBallot(actor(m), 1, first))).ok
        assert (await e.dispatch(c.CastBallot(actor(m), 2, second))).ok
    closed = await e.dispatch(c.AdvanceRound(mod, round_id))
    assert closed.ok, closed.text
    [result] = chat.titled(f"Round #{round_id}: results")
    first_line, second_line = result.fields[0].value, result.fields[1].value
    assert "not adopted" in first_line and "not bridging" in first_line
    assert "group 1: 6 yes, 0 no" in first_line and "group 2: 2 yes, 4 no" in first_line
    assert ": adopted" in second_line and "group 1: 5 yes, 1 no" in second_line and "group 2: 5 yes, 1 no" in second_line
    shown = await e.dispatch(c.ShowPolicy(mod, "kind"))
    assert "Be warm." in shown.text and "Be brief." not in shown.text


def test_parser_reads_bridging_and_results() -> None:
    who = actor("mod", moderator=True)
    cmd = parse("/round open kind scenarios=1,2 bridging=3", who, "general")
    assert isinstance(cmd, c.OpenRound) and cmd.bridging_min_voters == 3
    assert parse("/round results", who, "general") == c.RoundResults(who, None)
    assert parse("/round results 4", who, "general") == c.RoundResults(who, 4)
    with pytest.raises(CommandError, match="bridging"):
        parse("/round open kind scenarios=1 bridging=many", who, "general")
    with pytest.raises(CommandError, match="round"):
        parse("/round results four", who, "general")


async def test_a_failing_analysis_never_stops_the_round(
    app: App, mod: Actor, chat: FakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.analysis import results

    async def broken(*_: object) -> None:
        raise RuntimeError("analysis exploded")

    monkeypatch.setattr(results, "compute", broken)
    round_id, cands = await open_round(app, mod)
    await react_in_camps(app, cands, CAMP_A, CAMP_B)
    moved = await app.engine.dispatch(c.AdvanceRound(mod, round_id))
    assert moved.ok and "AMEND" in moved.text
    assert chat.titled(f"Round #{round_id}: what members think") == []
    assert chat.titled(f"Round #{round_id}: amendments are open")


async def stored(app: App, round_id: int) -> dict[str, RoundPolisStateRow]:
    async with app.engine.services.uow() as uow:
        rows = (await uow.session.exec(select(RoundPolisStateRow).where(RoundPolisStateRow.round_id == round_id))).all()
    return {r.stage: r for r in rows}


async def last_reaction(app: App) -> int:
    async with app.engine.services.uow() as uow:
        return int((await uow.session.exec(select(func.max(ReactionEventRow.id)))).one() or 0)


async def test_each_recomputation_starts_from_what_the_last_one_kept(app: App, mod: Actor) -> None:
    """As Polis: the state (who is in, base clusters, each k's groups, the k smoother) is kept with the
    round after each recomputation; asked again with no new reaction, nothing is recomputed; the
    groups announced when REVIEW closes are kept as announced."""
    round_id, cands = await open_round(app, mod)
    await react_in_camps(app, cands, CAMP_A, CAMP_B)
    first = await app.engine.dispatch(c.RoundResults(actor("x"), round_id))
    live = (await stored(app, round_id))["live"]
    state = PolisState.from_json(json.loads(live.state))
    assert live.event_id == await last_reaction(app)
    assert set(state.in_conv) == set(CAMP_A + CAMP_B) and state.base_clusters and state.k == 2
    assert state.smoother == KSmoother(2, 1, 2)
    again = await app.engine.dispatch(c.RoundResults(actor("x"), round_id))
    assert again.text == first.text
    assert (await stored(app, round_id))["live"].state == live.state  # no new reaction: not recomputed
    r = await app.engine.dispatch(c.RecordReaction(actor("ann0"), Stance.PASS, f"ann0-pass-{cands[0]}", candidate_id=cands[0]))
    assert r.ok
    await app.engine.services.recorder.flush()
    assert (await app.engine.dispatch(c.RoundResults(actor("x"), round_id))).ok
    live = (await stored(app, round_id))["live"]
    assert live.event_id == await last_reaction(app)
    assert PolisState.from_json(json.loads(live.state)).smoother == KSmoother(2, 2, 2)  # a second recomputation
    assert (await app.engine.dispatch(c.AdvanceRound(mod, round_id))).ok  # REVIEW → AMEND
    rows = await stored(app, round_id)
    assert rows["review"].state == rows["live"].state  # the same reactions: read back, not recomputed
    async with app.engine.services.uow() as uow:
        assert app.engine.services.opinion_groups is not None
        groups = await app.engine.services.opinion_groups(uow.session, round_id)
    assert len({groups[m] for m in CAMP_A}) == 1 and len({groups[m] for m in CAMP_B}) == 1
    assert groups[CAMP_A[0]] != groups[CAMP_B[0]]


async def test_erasure_forgets_the_member_in_every_stored_state(app: App, mod: Actor) -> None:
    round_id, cands = await open_round(app, mod)
    await react_in_camps(app, cands, CAMP_A, CAMP_B)
    assert (await app.engine.dispatch(c.AdvanceRound(mod, round_id))).ok
    rows = await stored(app, round_id)
    assert set(rows) == {"live", "review"} and all("ann0" in r.state for r in rows.values())
    assert (await app.engine.dispatch(c.PrivacyErase(actor("ann0"), confirm=True))).ok
    rows = await stored(app, round_id)
    assert not any("ann0" in r.state for r in rows.values())
    async with app.engine.services.uow() as uow:
        assert app.engine.services.opinion_groups is not None
        groups = await app.engine.services.opinion_groups(uow.session, round_id)
    assert "ann0" not in groups and "ann1" in groups
