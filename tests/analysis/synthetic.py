"""Synthetic communities with planted opinion groups."""

from __future__ import annotations

import numpy as np

from bot.analysis.matrix import RatingsMatrix


def planted(
    sizes: tuple[int, ...], n_candidates: int, *, density: float = 0.8, noise: float = 0.1, seed: int = 0
) -> tuple[RatingsMatrix, dict[str, int]]:
    """Each group has its own random stance (+1 / −1) on every candidate; each member votes on a
    `density` share of candidates, flipping to a random vote with probability `noise`."""
    rng = np.random.default_rng(seed)
    opinions = rng.choice([-1.0, 1.0], size=(len(sizes), n_candidates))
    rows: list[np.ndarray] = []
    truth: dict[str, int] = {}
    members: list[str] = []
    order = rng.permutation(sum(sizes))  # members arrive interleaved across groups
    labels = np.repeat(np.arange(len(sizes)), sizes)[order]
    for i, g in enumerate(labels):
        row = opinions[g].copy()
        flip = rng.random(n_candidates) < noise
        row[flip] = rng.choice([-1.0, 0.0, 1.0], size=int(flip.sum()))
        row[rng.random(n_candidates) >= density] = np.nan
        rows.append(row)
        members.append(f"u{i}")
        truth[f"u{i}"] = int(g)
    return RatingsMatrix(tuple(members), tuple(range(1, n_candidates + 1)), np.array(rows)), truth
