"""Plackett-Luce (pick one of a set) and Bradley-Terry (pairwise) scores, for many small scenarios at
once.

Each scenario is its own model over its own few candidates. All scenarios are fitted together by a
batched Newton iteration over a padded (scenarios × width) array, on the same objective that choix's
I-LSR converges to with its `alpha` regularisation (transition rates initialised at alpha):
    Σ_choices [s_winner − log Σ_{k ∈ shown} e^{s_k}] + alpha · n · Σ_i (s_i − e^{s_i})
for a scenario of n candidates. Its stationary point is exactly choix's fixed point
    e^{s_i} (alpha·n + Σ_{choices showing i} 1 / Σ_{k ∈ shown} e^{s_k}) = wins_i + alpha·n,
so the scores equal choix's up to a constant shift per scenario; we centre them (mean 0) like choix.
A pairwise comparison is a pick-one-of-two, so Bradley-Terry is the same fit (choix.ilsr_pairwise).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from bot.analysis.matrix import Comparison, ComparisonArrays, FloatArray, IntArray

ALPHA = 0.1  # regularisation, as choix's alpha
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ChoiceData:
    """N top-1 choices over S scenarios of at most W candidates each (local indices 0..n_items−1)."""

    n_items: IntArray  # (S,) candidates in each scenario
    scenario: IntArray  # (N,) scenario of each choice
    winner: IntArray  # (N,) local index of the chosen candidate
    shown: BoolArray  # (N, W) which local candidates the choice was among (the winner included)
    weight: FloatArray | None = None  # (N,) how many times each choice was made (default 1)

    @property
    def width(self) -> int:
        return int(self.shown.shape[1])

    def aggregated(self) -> ChoiceData:
        """The same data with identical choices merged into weights (the fit is unchanged; it is
        faster when many members make the same comparison)."""
        if not len(self.scenario):
            return self
        width = self.width
        bits = self.shown.astype(np.int64) @ (1 << np.arange(width, dtype=np.int64))
        key = (self.scenario.astype(np.int64) * width + self.winner) << width | bits
        uniq, inverse = np.unique(key, return_inverse=True)
        w = np.asarray(np.bincount(inverse.ravel(), weights=self.weight, minlength=len(uniq)), dtype=np.float64)
        shown = ((uniq[:, None] & ((1 << width) - 1)) >> np.arange(width)[None, :]) & 1
        rest = uniq >> width
        return ChoiceData(self.n_items, rest // width, rest % width, shown.astype(bool), w)

    @classmethod
    def pairwise(cls, n_items: IntArray, scenario: IntArray, winner: IntArray, loser: IntArray) -> ChoiceData:
        width = int(n_items.max(initial=2))
        shown = np.zeros((len(scenario), width), dtype=bool)
        rows = np.arange(len(scenario))
        shown[rows, winner] = True
        shown[rows, loser] = True
        return cls(np.asarray(n_items, dtype=np.int64), np.asarray(scenario, dtype=np.int64), np.asarray(winner), shown)


def fit_top1(data: ChoiceData, alpha: float = ALPHA, *, tol: float = 1e-10, max_iter: int = 100) -> FloatArray:
    """Scores (S, W), centred to mean 0 over each scenario's candidates; padding is NaN."""
    if alpha <= 0:
        raise ValueError("alpha must be positive: without it a never-chosen candidate has no finite score")
    n_s, width = len(data.n_items), data.width
    real = np.arange(width)[None, :] < data.n_items[:, None]  # (S, W)
    n_choices = len(data.scenario)
    # per-scenario sums of per-choice rows: A (S × N) @ X (N × ·)
    weight = np.ones(n_choices) if data.weight is None else np.asarray(data.weight, dtype=np.float64)
    agg = sparse.csr_matrix((weight, (data.scenario, np.arange(n_choices))), shape=(n_s, n_choices))
    wins = np.asarray(agg @ np.eye(width)[data.winner]) if n_choices else np.zeros((n_s, width))
    prior = alpha * data.n_items[:, None].astype(np.float64)  # alpha · n, per scenario
    theta = np.zeros((n_s, width))
    eye = np.eye(width)
    both_real = real[:, :, None] & real[:, None, :]
    for _ in range(max_iter):
        w = np.exp(theta)
        if n_choices:
            e = np.where(data.shown, w[data.scenario], 0.0)
            p = e / e.sum(axis=1, keepdims=True)  # (N, W) choice probabilities
            exposure = np.asarray(agg @ p)
            outer = np.asarray(agg @ (p[:, :, None] * p[:, None, :]).reshape(n_choices, width * width))
            outer = outer.reshape(n_s, width, width)
        else:
            exposure = np.zeros((n_s, width))
            outer = np.zeros((n_s, width, width))
        grad = np.where(real, wins - exposure + prior * (1.0 - w), 0.0)
        # negative Hessian: Σ (diag p − p pᵀ) + alpha·n·diag(w); padding gets an identity row
        neg_h = eye[None] * (exposure + prior * w)[:, :, None] - outer
        neg_h = np.where(both_real, neg_h, eye[None])
        step = np.linalg.solve(neg_h, grad[:, :, None])[:, :, 0]
        biggest = float(np.abs(step).max(initial=0.0))
        if biggest > 2.0:  # damp the first steps far from the optimum
            step *= 2.0 / biggest
        theta += step
        if biggest < tol:
            break
    centred = theta - (np.where(real, theta, 0.0).sum(axis=1) / np.maximum(data.n_items, 1))[:, None]
    return np.asarray(np.where(real, centred, np.nan), dtype=np.float64)


def fit_pairwise(n_items: IntArray, scenario: IntArray, winner: IntArray, loser: IntArray, alpha: float = ALPHA) -> FloatArray:
    """Bradley-Terry per scenario (choix.ilsr_pairwise's scores, centred)."""
    return fit_top1(ChoiceData.pairwise(n_items, scenario, winner, loser).aggregated(), alpha)


def scores_by(
    comparisons: ComparisonArrays | Iterable[Comparison],
    candidates_of: Mapping[int, Sequence[int]],
    group_of: Mapping[str, Hashable] | None = None,
    alpha: float = ALPHA,
) -> dict[Hashable, dict[int, float]]:
    """Bradley-Terry scores of each scenario's candidates from members' comparisons, fitted per
    group (group_of: member → group; members without a group are left out) or overall (key None).
    Returns group → candidate id → score (mean 0 within its scenario). Every scenario appears for
    every group, with 0 scores when the group made no comparison there."""
    comps = comparisons if isinstance(comparisons, ComparisonArrays) else ComparisonArrays.of(comparisons)
    scen_ids = sorted(candidates_of)
    if group_of is None:
        keys: list[Hashable] = [None]
        slot_of_member = np.zeros(len(comps.members), dtype=np.int64)
    else:
        keys = sorted({group_of[m] for m in comps.members if m in group_of}, key=str)
        index = {g: i for i, g in enumerate(keys)}
        slot_of_member = np.array([index.get(group_of.get(m), -1) for m in comps.members], dtype=np.int64)
    if not keys or not scen_ids:
        return {g: {} for g in keys}
    # candidate id → (scenario position, local index), via sorted lookup
    pairs = sorted((c, i, j) for i, s in enumerate(scen_ids) for j, c in enumerate(candidates_of[s]))
    cand_sorted = np.array([p[0] for p in pairs], dtype=np.int64)
    cand_scen = np.array([p[1] for p in pairs], dtype=np.int64)
    cand_local = np.array([p[2] for p in pairs], dtype=np.int64)

    def locate(ids: IntArray) -> tuple[IntArray, IntArray, BoolArray]:
        at = np.clip(np.searchsorted(cand_sorted, ids), 0, len(cand_sorted) - 1)
        return cand_scen[at], cand_local[at], cand_sorted[at] == ids

    w_scen, w_loc, w_ok = locate(comps.winner)
    l_scen, l_loc, l_ok = locate(comps.loser)
    group = slot_of_member[comps.member] if len(comps) else np.zeros(0, dtype=np.int64)
    keep = w_ok & l_ok & (w_scen == l_scen) & (group >= 0)
    slot = group[keep] * len(scen_ids) + w_scen[keep]
    n_items = np.tile(np.array([len(candidates_of[s]) for s in scen_ids], dtype=np.int64), len(keys))
    fitted = fit_pairwise(n_items, slot, w_loc[keep], l_loc[keep], alpha)
    out: dict[Hashable, dict[int, float]] = {}
    for gi, g in enumerate(keys):
        out[g] = {
            c: float(fitted[gi * len(scen_ids) + si, j]) for si, s in enumerate(scen_ids) for j, c in enumerate(candidates_of[s])
        }
    return out


def bridging_winner(per_group: Mapping[Any, Mapping[int, float]], candidates: Sequence[int]) -> tuple[int, float] | None:
    """The candidate whose lowest score across groups is highest (ties to the earlier candidate)."""
    if not per_group or not candidates:
        return None
    floor = {c: min(scores.get(c, 0.0) for scores in per_group.values()) for c in candidates}
    best = max(candidates, key=lambda c: (floor[c], -candidates.index(c)))
    return best, floor[best]
