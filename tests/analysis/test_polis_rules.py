"""Each rule of Polis's math (compdemocracy/polis math/src/polismath/math/) on a small synthetic
conversation built to show it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from bot.analysis import polis
from bot.analysis.matrix import RatingsMatrix
from bot.analysis.state import KSmoother, PolisState
from tests.analysis.synthetic import planted


def names(n: int, prefix: str = "p") -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(n))


def sparse_voters(m: RatingsMatrix, n: int, votes: int, seed: int) -> RatingsMatrix:
    """m with n more participants, each voting +1 on `votes` random statements."""
    rng = np.random.default_rng(seed)
    extra = np.full((n, len(m.candidates)), np.nan)
    for row in extra:
        row[rng.choice(len(m.candidates), votes, replace=False)] = 1.0
    return RatingsMatrix((*m.members, *names(n, "sparse")), m.candidates, np.vstack([m.votes, extra]))


# ---------------------------------------------------------------- projection


def test_pca_is_fitted_on_every_participant_then_narrowed() -> None:
    """Participants below the vote threshold are not placed, yet they shape the PCA, as in Polis."""
    m = sparse_voters(planted((10, 10), 20, density=1.0, seed=1)[0], 12, 2, seed=2)
    groups = polis.opinion_groups(m)
    assert groups.ok and not any(p.startswith("sparse") for p in groups.members)
    filled = np.where(np.isnan(m.votes), np.nanmean(m.votes, axis=0), m.votes)
    scale = np.sqrt(m.votes.shape[1] / (~np.isnan(m.votes)).sum(axis=1))
    everyone = PCA(2).fit_transform(filled) * scale[:, None]
    keep = np.isin(m.members, groups.members)
    for axis in range(2):
        sign = np.sign(groups.projection[:, axis] @ everyone[keep, axis])
        np.testing.assert_allclose(sign * groups.projection[:, axis], everyone[keep, axis], atol=1e-9)
    kept_only = polis.project(m.rows(keep))
    assert not np.allclose(np.abs(kept_only), np.abs(groups.projection), atol=1e-3)


def test_moderated_out_columns_are_zeroed_and_count_as_votes_in_the_scaling() -> None:
    m, _ = planted((8, 8), 10, density=0.7, seed=3)
    out = m.candidates[0]
    with_out = polis.project(m, moderated_out={out})
    dropped = RatingsMatrix(m.members, m.candidates[1:], m.votes[:, 1:])
    without = polis.project(dropped)
    # the zeroed column adds nothing to the PCA: the points differ only by each member's scaling,
    # sqrt(10 / (votes elsewhere + 1)) instead of sqrt(9 / votes elsewhere)
    votes_elsewhere = (~np.isnan(dropped.votes)).sum(axis=1)
    ratio = np.sqrt(10 / (votes_elsewhere + 1)) / np.sqrt(9 / votes_elsewhere)
    np.testing.assert_allclose(np.linalg.norm(with_out, axis=1), np.linalg.norm(without, axis=1) * ratio, rtol=1e-9)


# ---------------------------------------------------------------- who is placed


def test_votes_on_moderated_out_statements_count_for_being_placed() -> None:
    m, _ = planted((10, 10), 20, density=1.0, seed=4)
    out = set(m.candidates[:2])
    five_plus_two = np.full(20, np.nan)
    five_plus_two[:7] = 1.0  # 2 on the moderated-out statements, 5 on the others
    six_kept = np.full(20, np.nan)
    six_kept[2:8] = 1.0
    m = RatingsMatrix((*m.members, "five+2", "six"), m.candidates, np.vstack([m.votes, five_plus_two, six_kept]))
    groups = polis.opinion_groups(m, moderated_out=out)
    assert "five+2" in groups.members and "six" not in groups.members


def test_once_in_a_participant_stays_in() -> None:
    # while only 3 statements have votes, 3 votes are enough; later 7 are needed
    early = [(f"e{i}", s, 1) for i in range(16) for s in (1, 2, 3)]
    later = [(f"e{i}", s, 2) for i in range(1, 16) for s in range(4, 11)]
    assert polis.in_conversation_history(early + later, n_statements=10) == {f"e{i}" for i in range(16)}
    # the bot's stored state carries it the same way: e0 has 3 votes of 10 now, and is still placed
    m, _ = planted((10, 10), 10, density=1.0, seed=5)
    three = np.full(10, np.nan)
    three[:3] = 1.0
    m = RatingsMatrix((*m.members, "e0"), m.candidates, np.vstack([m.votes, three]))
    assert "e0" not in polis.opinion_groups(m).members
    assert "e0" in polis.opinion_groups(m, state=PolisState(in_conv=("e0",))).members


def test_fewer_than_15_placed_are_topped_up_with_the_most_active() -> None:
    m, _ = planted((5, 5), 20, density=1.0, seed=6)  # 10 with 20 votes each
    rng = np.random.default_rng(7)
    extra = np.full((10, 20), np.nan)
    for i, row in enumerate(extra):  # 1 … 6 votes: below min(7, 20)
        row[rng.choice(20, 1 + i % 6, replace=False)] = 1.0
    m = RatingsMatrix((*m.members, *names(10, "few")), m.candidates, np.vstack([m.votes, extra]))
    groups = polis.opinion_groups(m, rules=polis.POLIS_RULES)
    placed = set(groups.members)
    assert len(placed) == polis.IN_CONV_GREEDY and set(m.members[:10]) <= placed
    counts = dict(zip(m.members, m.votes_per_member.tolist(), strict=True))
    topped = placed - set(m.members[:10])
    assert min(counts[p] for p in topped) >= max(counts[p] for p in set(m.members[10:]) - topped)


# ---------------------------------------------------------------- base clusters and k


def test_up_to_100_base_clusters_kept_and_warm_started_across_recomputations() -> None:
    m, _ = planted((60, 50, 40), 30, seed=8)
    first = polis.opinion_groups(m)
    assert first.state is not None and len(first.state.base_clusters) == polis.BASE_K
    # 20 newcomers: the base clusters keep their ids and members, and take the newcomers in
    newcomers = m.votes[:20].copy()  # like the first 20, each with one vote changed
    newcomers[np.arange(20), np.arange(20)] = 0.0
    grown = RatingsMatrix((*m.members, *names(20, "new")), m.candidates, np.vstack([m.votes, newcomers]))
    second = polis.opinion_groups(grown, state=first.state)
    assert second.state is not None
    before = {c.id: set(c.members) for c in first.state.base_clusters}
    after = {c.id: set(c.members) for c in second.state.base_clusters}
    assert len(after) <= polis.BASE_K and {p for ms in after.values() for p in ms} == set(second.members)
    assert len(set(before) & set(after)) >= 0.9 * polis.BASE_K  # a cluster k-means empties is dropped, as in Polis
    kept = sum(len(before[i] & after[i]) for i in before if i in after)
    assert kept >= 0.9 * len(m.members)
    cold = polis.opinion_groups(grown)
    assert cold.state is not None
    assert {frozenset(c.members) for c in cold.state.base_clusters} != {frozenset(ms) for ms in after.values()}


def test_k_is_capped_by_the_number_of_base_clusters() -> None:
    # five planted groups of four identical members: five distinct points, five base clusters
    opinions = np.random.default_rng(10).choice([-1.0, 1.0], size=(5, 12))
    m = RatingsMatrix(names(20), tuple(range(12)), opinions[np.arange(20) % 5])
    groups = polis.opinion_groups(m, rules=polis.POLIS_RULES)
    assert groups.state is not None and len(groups.state.base_clusters) == 5
    assert set(groups.silhouettes) == {2} and groups.k == 2  # min(5, 2 + 5 // 12)
    # the same groups with 12 distinct members each: 60 base clusters allow k up to 5
    noisy, _ = planted((12, 12, 12, 12, 12), 30, density=0.9, noise=0.05, seed=11)
    wide = polis.opinion_groups(noisy, rules=polis.POLIS_RULES)
    assert wide.state is not None and len(wide.state.base_clusters) == 60
    assert set(wide.silhouettes) == {2, 3, 4, 5}


def test_a_new_k_is_shown_only_after_it_wins_four_recomputations_in_a_row() -> None:
    m, _ = planted((20, 20, 20), 30, seed=12)
    fresh = polis.opinion_groups(m)
    assert fresh.k == 3 and fresh.state is not None
    state = PolisState(smoother=KSmoother(last_k=2, last_k_count=9, smoothed_k=2))
    shown = []
    for _ in range(4):
        groups = polis.opinion_groups(m, state=state)
        assert groups.state is not None
        state = groups.state
        shown.append((groups.k, state.smoother.last_k, state.smoother.last_k_count))
    assert shown == [(2, 3, 1), (2, 3, 2), (2, 3, 3), (3, 3, polis.K_BUFFER)]


# ---------------------------------------------------------------- representative statements


def stats(*rows: tuple[int, int, int, int, int, int]) -> polis.GroupVotes:
    """Two groups; per candidate (agree, disagree, seen) of group 0 then of group 1."""
    a = np.array([[r[0] for r in rows], [r[3] for r in rows]])
    d = np.array([[r[1] for r in rows], [r[4] for r in rows]])
    s = np.array([[r[2] for r in rows], [r[5] for r in rows]])
    return polis.GroupVotes(a, d, s)


def test_the_lead_is_the_winner_of_the_ordered_scan_even_when_labelled_disagree() -> None:
    # candidate 1: group 0 endorses it (8 of 10) but the rest endorse it more (20 of 20), so it is
    # labelled "disagree" for group 0, and not significant either way; candidate 2: group 0 objects
    # (10 of 10) where the rest endorse (20 of 20): significant
    gv = stats((8, 2, 10, 20, 0, 20), (0, 10, 10, 20, 0, 20))
    [group0, _] = polis.representative(gv, (1, 2))
    assert [(r.candidate, r.direction, r.best_agree) for r in group0] == [(1, "disagree", True), (2, "disagree", False)]
    assert not group0[0].significant and group0[1].significant


def test_significance_in_either_direction_counts() -> None:
    # candidate 4 leads (group 0 endorses it 10 of 10, the rest object 25 of 25); candidate 5: group 0
    # endorses 7 of 9 against 11 of 25 for the rest (who mostly pass): the endorsement is significant,
    # yet the disagree figures are larger, so it is labelled disagree, and Polis still lists it
    gv = stats((10, 0, 10, 0, 25, 25), (7, 2, 9, 11, 0, 25))
    st = polis.repness_stats(gv, (4, 5))
    row = st.row(0, 1)
    assert row.direction == "disagree" and row.significant
    assert st.pat[0, 1] > polis.Z90 and st.rat[0, 1] > polis.Z90 and st.pdt[0, 1] < polis.Z90
    [group0, _] = polis.representative(gv, (4, 5))
    assert [(r.candidate, r.direction, r.best_agree) for r in group0] == [(4, "agree", True), (5, "disagree", False)]


def test_nothing_significant_leaves_the_best_agree_alone() -> None:
    # group 0 endorses candidate 1 more than the rest (3 of 4 against 2 of 4): too few votes to be
    # significant, still its best endorsed candidate, shown alone
    gv = stats((3, 1, 4, 2, 2, 4), (1, 1, 4, 1, 1, 4))
    [group0, _] = polis.representative(gv, (1, 2))
    assert [(r.candidate, r.direction, r.best_agree, r.significant) for r in group0] == [(1, "agree", True, False)]


@pytest.mark.parametrize("limit", [1, 3])
def test_at_most_limit_agrees_first(limit: int) -> None:
    rows = [(10, 0, 10, 0, 10, 10)] * 3 + [(0, 10, 10, 10, 0, 10)] * 3
    gv = stats(*rows)
    [group0, _] = polis.representative(gv, tuple(range(6)), limit=limit)
    assert len(group0) == limit
    directions = [r.direction for r in group0]
    assert directions == sorted(directions)  # "agree" < "disagree"
