"""The verdict rule: which scenarios of an analysed round become precedents, with which answers, from
the analysis's own consensus, divisiveness and bridging picks (bot/generation/precedents.py)."""

from __future__ import annotations

import itertools

from bot.analysis.pipeline import CandidateInfo, RoundInput, analyse
from bot.domain.model import Stance
from bot.domain.preferences import ReactionEvent
from bot.generation.precedents import BRIDGING, CONSENSUS, LIKE, UNLIKE, evidence_of, verdicts

E, X, P = Stance.ENDORSE, Stance.OBJECT, Stance.PASS  # endorse, object (a cross), pass


def round_input(votes: dict[str, dict[int, Stance]], scenarios: dict[int, int], best: dict[str, int] | None = None) -> RoundInput:
    """`votes`: member → candidate → stance; `scenarios`: candidate → scenario; `best`: member → best candidate."""
    seq = itertools.count(1)
    events = [ReactionEvent(next(seq), m, cand, st, False, "") for m, mine in votes.items() for cand, st in mine.items()]
    events += [ReactionEvent(next(seq), m, cand, Stance.BEST, False, "") for m, cand in (best or {}).items()]
    cands = tuple(CandidateInfo(c, s, f"S{s}·{c}", f"text {c}") for c, s in scenarios.items())
    return RoundInput(1, cands, {s: f"scenario {s}" for s in set(scenarios.values())}, tuple(events))


def test_consensus_makes_like_and_unlike_answers_and_a_split_makes_none() -> None:
    votes = {
        "a": {1: E, 2: X, 3: E, 4: X},
        "b": {1: E, 2: X, 3: X, 4: E},
        "c": {1: E, 2: X, 3: E, 4: X},
        "d": {1: E, 2: P, 3: X, 4: E},
    }
    a = analyse(round_input(votes, {1: 10, 2: 10, 3: 11, 4: 11}))
    (verdict,) = verdicts(a)  # scenario 11 is split 2–2 on both candidates: no verdict there
    assert verdict.scenario_id == 10
    like, unlike = verdict.answers
    assert (like.candidate_id, like.verdict, like.basis) == (1, LIKE, CONSENSUS)
    assert (like.endorsements, like.objections, like.passes) == (4, 0, 0)
    assert like.share == round(5 / 6, 4) and like.z > 1.2816
    assert (unlike.candidate_id, unlike.verdict, unlike.basis) == (2, UNLIKE, CONSENSUS)
    assert (unlike.endorsements, unlike.objections, unlike.passes) == (0, 3, 1)
    assert verdict.support == 4  # the most votes behind one verdict
    assert like.groups == {}  # four members: no opinion groups
    evidence = evidence_of(a)
    assert evidence["members"] == 4 and evidence["opinion_groups"] == {"found": False, "reason": a.groups.reason}


def test_too_few_members_or_votes_make_no_precedent() -> None:
    two = {"a": {1: E}, "b": {1: E}}  # p = 3/4 and z = 1.73 pass the test, but two members are not a community
    assert verdicts(analyse(round_input(two, {1: 10}))) == []
    three = {"a": {1: E, 2: E}, "b": {1: E, 2: E}, "c": {1: E}}
    a = analyse(round_input({**three, "d": {1: E}}, {1: 10, 2: 11}))
    assert [v.scenario_id for v in verdicts(a)] == [10]  # candidate 2 has two votes only


def test_a_candidate_that_divides_the_opinion_groups_is_never_a_verdict_and_the_bridging_pick_counts() -> None:
    # nine members in one camp, three in the other; everyone votes on all eight candidates
    camp_a = {1: E, 2: E, 3: X, 4: X, 5: E, 6: X, 7: P, 8: X}
    camp_b = {1: X, 2: E, 3: X, 4: E, 5: X, 6: E, 7: P, 8: E}
    votes = {f"a{i}": dict(camp_a) for i in range(9)} | {f"b{i}": dict(camp_b) for i in range(3)}
    best = dict.fromkeys(votes, 7)  # everyone picks candidate 7 as the best of scenario 11
    a = analyse(round_input(votes, {1: 10, 2: 10, 3: 10, 4: 10, 5: 11, 6: 11, 7: 11, 8: 11}, best))
    assert a.groups.ok and sorted(a.groups.sizes()) == [3, 9]
    # candidate 1 is endorsed by consensus overall (9 of 12) but the three object: it divides the groups
    assert any(c.candidate == 1 and c.direction == "agree" for c in a.consensus)
    assert 1 in {c for c, _ in a.divisive}
    first, second = verdicts(a)
    assert first.scenario_id == 10
    assert [(x.candidate_id, x.verdict) for x in first.answers] == [(2, LIKE), (3, UNLIKE)]
    groups = sorted(first.answers[0].groups.values(), key=lambda g: g["endorse"])
    assert groups == [{"endorse": 3, "object": 0, "pass": 0}, {"endorse": 9, "object": 0, "pass": 0}]
    # scenario 11: nothing by consensus (5, 6 and 8 divide the groups, 7 is passed on), so the bridging pick
    assert second.scenario_id == 11
    (pick,) = second.answers
    assert (pick.candidate_id, pick.verdict, pick.basis, pick.passes) == (7, LIKE, BRIDGING, 12)
    groups_seen = evidence_of(a)["opinion_groups"]
    assert isinstance(groups_seen, dict) and groups_seen["found"] is True
    assert sorted(groups_seen["sizes"].values()) == [3, 9]
