"""Counting ballots, competing amendments, and applying adopted amendments."""

from __future__ import annotations

from fractions import Fraction

from bot.domain.model import AmendmentKind, BallotChoice, TallyRule
from bot.domain.tally import ANCHOR_START, AmendmentSpec, BallotEvent, ClauseValue, apply_amendments, latest_ballots, tally

Y, N, A = BallotChoice.YES, BallotChoice.NO, BallotChoice.ABSTAIN


def events(*rows: tuple[int, str, BallotChoice]) -> list[BallotEvent]:
    return [BallotEvent(a, m, c, i) for i, (a, m, c) in enumerate(rows)]


def test_latest_ballot_counts() -> None:
    got = latest_ballots(events((1, "a", Y), (1, "a", N), (1, "b", A)))
    assert got == {1: {"a": N, "b": A}}


def test_quorum_counts_abstentions_and_threshold_ignores_them() -> None:
    spec = [AmendmentSpec(1, AmendmentKind.REPLACE, "c1", "x")]
    rule = TallyRule(quorum_count=3)
    (r,) = tally(spec, events((1, "a", Y), (1, "b", A), (1, "c", A)), rule, participants=3)
    assert r.passed and r.count.voters == 3
    (r,) = tally(spec, events((1, "a", Y), (1, "b", A)), rule, participants=3)
    assert not r.passed and "quorum" in r.reason


def test_competing_amendments_highest_share_wins_tie_to_earlier() -> None:
    spec = [
        AmendmentSpec(1, AmendmentKind.REPLACE, "c2", "one"),
        AmendmentSpec(2, AmendmentKind.REMOVE, "c2", ""),
        AmendmentSpec(3, AmendmentKind.REPLACE, "c2", "three"),
    ]
    ev = events(
        (1, "a", Y), (1, "b", Y), (1, "c", N), (2, "a", Y), (2, "b", Y), (2, "c", Y), (3, "a", Y), (3, "b", Y), (3, "c", Y)
    )
    results = {r.amendment_id: r for r in tally(spec, ev, TallyRule(), participants=3)}
    assert results[2].adopted and "adopted over competing" in results[2].reason
    assert results[3].passed and not results[3].adopted and "tie" in results[3].reason
    assert results[1].passed and not results[1].adopted and "higher yes share" in results[1].reason


def test_adds_do_not_compete() -> None:
    spec = [AmendmentSpec(1, AmendmentKind.ADD, "c1", "x"), AmendmentSpec(2, AmendmentKind.ADD, "c1", "y")]
    results = tally(spec, events((1, "a", Y), (2, "a", Y)), TallyRule(), participants=1)
    assert all(r.adopted for r in results)


def test_bridging_requires_threshold_in_every_large_enough_group() -> None:
    spec = [AmendmentSpec(1, AmendmentKind.REPLACE, "c1", "x")]
    ev = events((1, "a", Y), (1, "b", Y), (1, "c", Y), (1, "d", N), (1, "e", N), (1, "f", Y))
    groups = {"a": 0, "b": 0, "c": 0, "d": 1, "e": 1, "f": 1}
    rule = TallyRule(threshold=Fraction(1, 2), bridging_min_voters=2)
    (r,) = tally(spec, ev, rule, participants=6, member_groups=groups)
    assert not r.passed and "group 1" in r.reason and r.groups["group 1"].no == 2
    (r,) = tally(spec, ev, TallyRule(bridging_min_voters=4), participants=6, member_groups=groups)
    assert r.passed  # group 1 has too few voters to count


def test_apply_amendments_keeps_keys_and_places_adds() -> None:
    clauses = [ClauseValue("c1", "A"), ClauseValue("c2", "B"), ClauseValue("c3", "C")]
    adopted = [
        AmendmentSpec(1, AmendmentKind.REPLACE, "c1", "A2"),
        AmendmentSpec(2, AmendmentKind.REMOVE, "c2", ""),
        AmendmentSpec(3, AmendmentKind.ADD, "c2", "after B"),
        AmendmentSpec(4, AmendmentKind.ADD, None, "end"),
        AmendmentSpec(5, AmendmentKind.ADD, ANCHOR_START, "start"),
    ]
    out = apply_amendments(clauses, adopted, iter(["c4", "c5", "c6"]))
    assert [(c.key, c.text) for c in out] == [("c4", "start"), ("c1", "A2"), ("c5", "after B"), ("c3", "C"), ("c6", "end")]
