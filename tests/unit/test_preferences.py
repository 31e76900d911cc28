"""Current stances and best picks derived from raw reaction events."""

from __future__ import annotations

from bot.domain.model import Stance
from bot.domain.preferences import ReactionEvent, best_picks, current_stances, stance_counts

E, OBJ, P, B = Stance.ENDORSE, Stance.OBJECT, Stance.PASS, Stance.BEST


def ev(seq: int, member: str, cand: int, stance: Stance, removed: bool = False) -> ReactionEvent:
    return ReactionEvent(seq, member, cand, stance, removed)


def test_latest_active_stance_wins_and_removal_restores_the_earlier() -> None:
    events = [ev(1, "a", 1, E), ev(2, "a", 1, OBJ)]
    assert current_stances(events) == {("a", 1): OBJ}
    assert current_stances([*events, ev(3, "a", 1, OBJ, True)]) == {("a", 1): E}
    assert current_stances([*events, ev(3, "a", 1, OBJ, True), ev(4, "a", 1, E, True)]) == {}


def test_order_is_by_sequence_not_arrival_in_the_list() -> None:
    assert current_stances([ev(2, "a", 1, P), ev(1, "a", 1, E)]) == {("a", 1): P}


def test_best_is_one_per_scenario() -> None:
    scenario_of = {1: 10, 2: 10, 3: 20}
    events = [ev(1, "a", 1, B), ev(2, "a", 2, B), ev(3, "a", 3, B), ev(4, "b", 1, B), ev(5, "b", 1, B, True)]
    assert best_picks(events, scenario_of) == {("a", 10): 2, ("a", 20): 3}


def test_counts() -> None:
    stances = current_stances([ev(1, "a", 1, E), ev(2, "b", 1, OBJ), ev(3, "c", 1, E)])
    assert stance_counts(stances)[1] == {E: 2, OBJ: 1, P: 0}
