"""Community Notes style matrix factorisation: a stationary point of the stated objective, and an
intercept that rewards endorsement across the divide."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from bot.analysis import bridging
from bot.analysis.matrix import RatingsMatrix
from tests.analysis.synthetic import planted


def two_sides(seed: int = 1) -> RatingsMatrix:
    """Two opposed groups; candidate 1 endorsed by all, candidate 2 endorsed by one side and
    objected to by the other."""
    m, truth = planted((30, 30), 16, noise=0.05, seed=seed)
    votes = m.votes.copy()
    side = np.array([truth[x] for x in m.members])
    votes[:, 0] = 1.0
    votes[:, 1] = np.where(side == 0, 1.0, -1.0)
    return RatingsMatrix(m.members, m.candidates, votes)


def test_fit_is_a_minimum_of_the_objective() -> None:
    m = two_sides()
    fitted = bridging.fit(m)
    assert fitted.ok
    x0 = bridging.params_of(fitted)
    value, grad = bridging.objective(m, x0)
    assert np.abs(grad).max() < 1e-4
    better = minimize(lambda x: bridging.objective(m, x), x0, jac=True, method="L-BFGS-B")
    assert better.fun >= value - 1e-6


def test_intercept_rewards_cross_group_endorsement() -> None:
    fitted = bridging.fit(two_sides())
    i_all, i_partisan = fitted.intercept[0], fitted.intercept[1]
    assert i_all >= bridging.HELPFUL_INTERCEPT and abs(fitted.factor[0]) < bridging.MAX_FACTOR
    assert abs(fitted.factor[1]) > abs(fitted.factor[0])
    assert i_partisan < i_all - 0.2
    assert 1 in fitted.bridged() and 2 not in fitted.bridged()


def test_not_enough_raters() -> None:
    m, _ = planted((5, 5), 10, seed=2)
    fitted = bridging.fit(m)
    assert not fitted.ok and "at least 20" in fitted.reason and fitted.bridged() == []
