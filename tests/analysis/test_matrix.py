"""The vectorised derivation of stances, best picks and comparisons from events equals the plain
one (bot.domain.preferences + ratings_matrix + pairwise_comparisons), removals included."""

from __future__ import annotations

import numpy as np
import pytest

from bot.analysis.matrix import comparison_arrays, pairwise_comparisons, ratings_matrix, reactions_from_events
from bot.domain.model import Stance
from bot.domain.preferences import ReactionEvent, best_picks, current_stances

ALL = (Stance.ENDORSE, Stance.OBJECT, Stance.PASS, Stance.BEST)


def random_events(seed: int, n: int = 3000) -> tuple[list[ReactionEvent], dict[int, int]]:
    rng = np.random.default_rng(seed)
    scenario_of = {c: 100 + (c - 1) // 3 for c in range(1, 13)}  # 4 scenarios of 3 candidates
    events = [
        ReactionEvent(
            int(seq),
            f"m{rng.integers(0, 40)}",
            int(rng.integers(1, 14)),  # candidate 13 belongs to no scenario: ignored
            ALL[int(rng.integers(0, 4))],
            bool(rng.random() < 0.15),
        )
        for seq in rng.permutation(n) + 1
    ]
    return events, scenario_of


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_reactions_equal_the_plain_derivation(seed: int) -> None:
    events, scenario_of = random_events(seed)
    cands = sorted(scenario_of)
    r = reactions_from_events(events, cands, scenario_of)
    kept = [e for e in events if e.candidate_id in scenario_of]
    stances = current_stances(kept)
    arrival = list(dict.fromkeys(e.member for e in sorted(kept, key=lambda e: e.seq)))
    plain = ratings_matrix(stances, cands, arrival)
    assert r.matrix.members == plain.members
    np.testing.assert_array_equal(r.matrix.votes, plain.votes)
    best = best_picks(kept, scenario_of)
    got = {(r.members[m], int(s)): int(c) for m, s, c in zip(r.best_member, r.best_scenario, r.best_candidate, strict=True)}
    assert got == best
    shown = {s: [c for c in cands if scenario_of[c] == s] for s in sorted(set(scenario_of.values()))}
    expected = {(c.member, c.scenario_id, c.winner, c.loser) for c in pairwise_comparisons(stances, best, shown)}
    arrays = comparison_arrays(r, shown)
    found = [
        (arrays.members[m], int(s), int(w), int(lo))
        for m, s, w, lo in zip(arrays.member, arrays.scenario, arrays.winner, arrays.loser, strict=True)
    ]
    assert len(found) == len(set(found)) == len(expected)
    assert set(found) == expected
    assert r.reactions == len(stances) + len(best)
