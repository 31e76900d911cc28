"""Batched Plackett-Luce / Bradley-Terry fits equal choix's scores (up to a shift) per scenario."""

from __future__ import annotations

import choix
import numpy as np
import pytest

from bot.analysis.choice import ChoiceData, bridging_winner, fit_pairwise, fit_top1, scores_by
from bot.analysis.matrix import Comparison, pairwise_comparisons
from bot.domain.model import Stance


def random_top1(seed: int, n_scenarios: int = 300, n_choices: int = 1200) -> ChoiceData:
    rng = np.random.default_rng(seed)
    n_items = rng.integers(2, 7, size=n_scenarios)
    scenario = rng.integers(0, n_scenarios, size=n_choices)
    shown = np.zeros((n_choices, 6), dtype=bool)
    winner = np.zeros(n_choices, dtype=np.int64)
    for i, s in enumerate(scenario):
        n = int(n_items[s])
        chosen = rng.choice(n, int(rng.integers(2, n + 1)), replace=False)
        shown[i, chosen] = True
        winner[i] = chosen[0]
    return ChoiceData(n_items, scenario, winner, shown)


@pytest.mark.parametrize("alpha", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_top1_equals_choix_up_to_a_shift(seed: int, alpha: float) -> None:
    data = random_top1(seed)
    ours = fit_top1(data, alpha)
    for s in range(len(data.n_items)):
        n = int(data.n_items[s])
        rows = np.flatnonzero(data.scenario == s)
        top1 = [(int(data.winner[i]), tuple(int(x) for x in np.flatnonzero(data.shown[i]) if x != data.winner[i])) for i in rows]
        theirs = choix.ilsr_top1(n, top1, alpha=alpha)
        diff = ours[s, :n] - theirs
        assert np.ptp(diff) < 1e-6  # equal up to a constant shift
        assert abs(diff.mean()) < 1e-6  # and both centred
        assert np.isnan(ours[s, n:]).all()


def test_pairwise_equals_choix() -> None:
    rng = np.random.default_rng(3)
    n_scen, n = 200, 2000
    n_items = rng.integers(2, 6, size=n_scen)
    scenario = rng.integers(0, n_scen, size=n)
    winner = np.array([rng.integers(0, n_items[s]) for s in scenario])
    loser = np.array([(w + 1 + rng.integers(0, n_items[s] - 1)) % n_items[s] for w, s in zip(winner, scenario, strict=True)])
    ours = fit_pairwise(n_items, scenario, winner, loser, 0.1)
    for s in range(n_scen):
        rows = np.flatnonzero(scenario == s)
        theirs = choix.ilsr_pairwise(int(n_items[s]), [(int(winner[i]), int(loser[i])) for i in rows], alpha=0.1)
        assert np.abs(ours[s, : n_items[s]] - theirs).max() < 1e-6


def test_a_dominant_candidate_scores_highest_and_unseen_ones_zero() -> None:
    data = ChoiceData.pairwise(np.array([3, 3]), np.array([0, 0, 0, 0]), np.array([2, 2, 2, 1]), np.array([0, 1, 0, 0]))
    scores = fit_top1(data, 0.1)
    assert scores[0].argmax() == 2 and scores[0, 0] == scores[0].min()
    assert np.allclose(scores[1], 0.0)  # no data: all equal


def test_alpha_must_be_positive() -> None:
    with pytest.raises(ValueError, match="alpha"):
        fit_top1(random_top1(4, 5, 10), 0.0)


def test_comparisons_from_best_picks_and_stances() -> None:
    shown = {10: [1, 2, 3], 20: [4, 5]}
    stances = {("a", 1): Stance.ENDORSE, ("a", 2): Stance.OBJECT, ("a", 3): Stance.OBJECT, ("a", 4): Stance.PASS}
    best = {("a", 10): 1, ("b", 20): 5}
    comps = pairwise_comparisons(stances, best, shown)
    got = {(c.member, c.winner, c.loser, c.source) for c in comps}
    # a's best pick 1 beats 2 and 3; a's endorse-over-object 1>2, 1>3 is the same, so it is not counted twice
    assert got == {("a", 1, 2, "best"), ("a", 1, 3, "best"), ("b", 5, 4, "best")}
    more = pairwise_comparisons({("c", 2): Stance.ENDORSE, ("c", 3): Stance.OBJECT, ("c", 4): Stance.OBJECT}, {}, shown)
    assert [(c.winner, c.loser, c.scenario_id, c.source) for c in more] == [(2, 3, 10, "stance")]  # never across scenarios


def test_scores_per_group_and_bridging_winner() -> None:
    """Group x prefers 1 > 2 > 3, group y prefers 3 > 2 > 1: candidate 2 bridges."""
    comps: list[Comparison] = []
    for i in range(6):
        for w, lo in ((1, 2), (2, 3), (1, 3)):
            comps.append(Comparison(f"x{i}", 10, w, lo, "stance"))
            comps.append(Comparison(f"y{i}", 10, lo, w, "stance"))
    groups = {f"x{i}": 1 for i in range(6)} | {f"y{i}": 2 for i in range(6)}
    per_group = scores_by(comps, {10: [1, 2, 3]}, groups)
    assert set(per_group) == {1, 2}
    assert per_group[1][1] > per_group[1][2] > per_group[1][3]
    assert per_group[2][3] > per_group[2][2] > per_group[2][1]
    overall = scores_by(comps, {10: [1, 2, 3]})[None]
    assert abs(overall[1] - overall[3]) < 1e-9
    winner = bridging_winner(per_group, [1, 2, 3])
    assert winner is not None and winner[0] == 2


def test_merging_identical_choices_changes_nothing() -> None:
    data = random_top1(5, 40, 2000)  # many repeats per scenario
    merged = data.aggregated()
    assert len(merged.scenario) < len(data.scenario) and merged.weight is not None
    assert merged.weight.sum() == len(data.scenario)
    np.testing.assert_allclose(fit_top1(merged), fit_top1(data), atol=1e-9)
