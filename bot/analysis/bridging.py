"""Community Notes style bridging by matrix factorisation.

r̂(u, n) = μ + i_u + i_n + f_u · f_n (one factor), minimising
    Σ (r − r̂)² + λ_i (i_u² + i_n² + μ²) + λ_f (f_u² + f_n²),  λ_i = 0.15, λ_f = 0.03,
with ratings endorse = 1, pass = 0.5, object = 0. The item intercept i_n is the bridged approval:
high only when members on both sides of the factor endorse. Fitted by alternating exact
minimisation (each member's and each candidate's (intercept, factor) pair is a 2 × 2 ridge
regression given the others, solved for all at once with bincount sums).
Community Notes calls a note helpful at i_n ≥ 0.40 with |f_n| < 0.5 and at least 5 ratings; it needs
many raters, so below MIN_RATERS members the fit is not run and group-aware consensus is the signal."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bot.analysis.matrix import FloatArray, IntArray, RatingsMatrix

LAMBDA_I = 0.15
LAMBDA_F = 0.03
MIN_RATERS = 20  # members with a rating, below which the fit is not reported
MIN_RATINGS = 5  # ratings a candidate needs for its intercept to be reported
HELPFUL_INTERCEPT = 0.40
MAX_FACTOR = 0.5


@dataclass(frozen=True)
class BridgingFit:
    ok: bool
    reason: str
    candidates: tuple[int, ...] = ()
    intercept: FloatArray = field(default_factory=lambda: np.zeros(0))  # i_n per candidate
    factor: FloatArray = field(default_factory=lambda: np.zeros(0))  # f_n per candidate
    ratings: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # ratings per candidate
    mu: float = 0.0
    member_intercept: FloatArray = field(default_factory=lambda: np.zeros(0))  # i_u (never shown)
    member_factor: FloatArray = field(default_factory=lambda: np.zeros(0))  # f_u (never shown)
    iterations: int = 0

    def bridged(self) -> list[int]:
        """Candidates that pass the Community Notes bar."""
        if not self.ok:
            return []
        keep = (self.intercept >= HELPFUL_INTERCEPT) & (np.abs(self.factor) < MAX_FACTOR) & (self.ratings >= MIN_RATINGS)
        return [self.candidates[j] for j in np.flatnonzero(keep)]


@dataclass(frozen=True)
class _Segments:
    """The ratings grouped by one side (members or candidates): sums per entity by np.add.reduceat
    over contiguous runs, about twice as fast as a weighted bincount over scattered indices."""

    order: IntArray  # ratings sorted by entity
    starts: IntArray  # where each present entity's run begins
    present: IntArray  # the entities with at least one rating
    count: FloatArray  # ratings per entity (all entities)

    @classmethod
    def of(cls, idx: IntArray, size: int) -> _Segments:
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]]) if len(idx) else np.zeros(0, dtype=np.int64)
        count = np.bincount(idx, minlength=size).astype(np.float64)
        return cls(order, starts, sorted_idx[starts], count)

    def sums(self, values: FloatArray) -> FloatArray:
        out = np.zeros(len(self.count))
        if len(self.starts):
            out[self.present] = np.add.reduceat(values, self.starts)
        return out


def _pair_solve(seg: _Segments, y: FloatArray, x: FloatArray, lam_i: float, lam_f: float) -> tuple[FloatArray, FloatArray]:
    """For each entity e, argmin Σ_{obs of e} (y − a_e − b_e·x)² + lam_i a_e² + lam_f b_e²
    (y and x in the segments' order)."""
    sx, sxx, sy, sxy = seg.sums(x), seg.sums(x * x), seg.sums(y), seg.sums(x * y)
    a11, a12, a22 = seg.count + lam_i, sx, sxx + lam_f
    det = a11 * a22 - a12 * a12
    a = (a22 * sy - a12 * sxy) / det
    b = (a11 * sxy - a12 * sy) / det
    return a, b


def _gauge(
    mu: float, i_u: FloatArray, i_i: FloatArray, f_u: FloatArray, f_i: FloatArray
) -> tuple[float, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Moves along the directions that leave every prediction unchanged (shifting μ against the
    intercepts, a factor against the other side's intercepts, rescaling the factors) to where the
    penalty is least. Alternating updates crawl along these flat valleys; this jumps to the bottom."""
    n_u, n_i = len(i_u), len(i_i)
    # μ + a + b, i_n − a, i_u − b
    a_mat = np.array([[1.0 + n_i, 1.0], [1.0, 1.0 + n_u]])
    a, b = np.linalg.solve(a_mat, np.array([i_i.sum() - mu, i_u.sum() - mu]))
    mu, i_i, i_u = mu + a + b, i_i - a, i_u - b
    # f_u + c with i_n − c·f_n, and f_n + d with i_u − d·f_u
    c = (LAMBDA_I * float(i_i @ f_i) - LAMBDA_F * float(f_u.sum())) / (LAMBDA_I * float(f_i @ f_i) + LAMBDA_F * n_u)
    f_u, i_i = f_u + c, i_i - c * f_i
    d = (LAMBDA_I * float(i_u @ f_u) - LAMBDA_F * float(f_i.sum())) / (LAMBDA_I * float(f_u @ f_u) + LAMBDA_F * n_i)
    f_i, i_u = f_i + d, i_u - d * f_u
    # f_u·k with f_n / k
    su, si = float(f_u @ f_u), float(f_i @ f_i)
    if su > 0 and si > 0:
        k = (si / su) ** 0.25
        f_u, f_i = f_u * k, f_i / k
    return float(mu), i_u, i_i, f_u, f_i


def fit(m: RatingsMatrix, *, min_raters: int = MIN_RATERS, max_iter: int = 300, tol: float = 1e-6, seed: int = 0) -> BridgingFit:
    voted = ~np.isnan(m.votes)
    raters = int(voted.any(axis=1).sum())
    if raters < min_raters:
        return BridgingFit(False, f"{raters} member(s) rated; the bridging model needs at least {min_raters}")
    users, items = np.nonzero(voted)
    r = (m.votes[users, items] + 1.0) / 2.0  # +1 → 1, 0 → 0.5, −1 → 0
    n_u, n_i = m.votes.shape
    rng = np.random.default_rng(seed)
    f_u = np.asarray(rng.normal(0.0, 0.1, size=n_u), dtype=np.float64)
    f_i = np.asarray(rng.normal(0.0, 0.1, size=n_i), dtype=np.float64)
    i_u, i_i = np.zeros(n_u), np.zeros(n_i)
    mu = float(r.mean())
    it = 0
    by_user, by_item = _Segments.of(users, n_u), _Segments.of(items, n_i)
    items_u, r_u = items[by_user.order], r[by_user.order]  # the ratings in member order
    users_i, items_i, r_i = users[by_item.order], items[by_item.order], r[by_item.order]  # and in candidate order
    for it in range(1, max_iter + 1):  # noqa: B007  (the count is reported)
        old = np.concatenate([i_u, i_i, f_u, f_i, [mu]])
        i_u, f_u = _pair_solve(by_user, r_u - mu - i_i[items_u], f_i[items_u], LAMBDA_I, LAMBDA_F)
        fu_i = f_u[users_i]
        i_i, f_i = _pair_solve(by_item, r_i - mu - i_u[users_i], fu_i, LAMBDA_I, LAMBDA_F)
        resid = r_i - i_u[users_i] - i_i[items_i] - fu_i * f_i[items_i]
        mu = float(resid.sum() / (len(r) + LAMBDA_I))
        mu, i_u, i_i, f_u, f_i = _gauge(mu, i_u, i_i, f_u, f_i)
        if np.abs(np.concatenate([i_u, i_i, f_u, f_i, [mu]]) - old).max() < tol:
            break
    ratings = voted.sum(axis=0).astype(np.int64)
    return BridgingFit(True, "", m.candidates, i_i, f_i, ratings, mu, i_u, f_u, it)


def objective(m: RatingsMatrix, params: FloatArray) -> tuple[float, FloatArray]:
    """The loss and its gradient at params = [i_u…, i_n…, f_u…, f_n…, μ] (for checking the fit)."""
    n_u, n_i = m.votes.shape
    users, items = np.nonzero(~np.isnan(m.votes))
    r = (m.votes[users, items] + 1.0) / 2.0
    i_u, i_i = params[:n_u], params[n_u : n_u + n_i]
    f_u, f_i = params[n_u + n_i : 2 * n_u + n_i], params[2 * n_u + n_i : 2 * n_u + 2 * n_i]
    mu = params[-1]
    e = mu + i_u[users] + i_i[items] + f_u[users] * f_i[items] - r
    value = float(
        (e**2).sum() + LAMBDA_I * ((i_u**2).sum() + (i_i**2).sum() + mu**2) + LAMBDA_F * ((f_u**2).sum() + (f_i**2).sum())
    )
    grad = np.concatenate(
        [
            2 * np.bincount(users, weights=e, minlength=n_u) + 2 * LAMBDA_I * i_u,
            2 * np.bincount(items, weights=e, minlength=n_i) + 2 * LAMBDA_I * i_i,
            2 * np.bincount(users, weights=e * f_i[items], minlength=n_u) + 2 * LAMBDA_F * f_u,
            2 * np.bincount(items, weights=e * f_u[users], minlength=n_i) + 2 * LAMBDA_F * f_i,
            [2 * e.sum() + 2 * LAMBDA_I * mu],
        ]
    )
    return value, grad


def params_of(fitted: BridgingFit) -> FloatArray:
    return np.concatenate([fitted.member_intercept, fitted.intercept, fitted.member_factor, fitted.factor, [fitted.mu]])
