"""Opinion groups as Polis computes them, and the statistics built on them.

1. Keep members with at least min(7, number of candidates) votes.
2. Fill missing votes with the column mean, PCA to 2 components.
3. Scale each member's projection by sqrt(n_candidates / n_votes_of_member).
4. Like Polis, cluster into at most 100 base clusters first (only when there are more members than
   that), then k-means the base clusters into k = 2..5 groups (weighted by size), choosing k by
   silhouette. k-means is seeded as Polis seeds it, with the first k distinct points, members taken in
   order of arrival (so the matrix rows must be in that order); k-means++ restarts replace that
   seeding when it fails or separates members clearly worse, and k is judged by the better
   silhouette of the two; a previous k is kept unless a new k beats it clearly. A k that would make a group of
   fewer than MIN_GROUP_SIZE members is never chosen.

Below MIN_MEMBERS kept members there are no groups: `Groups.ok` is False with the reason, and the
results fall back to plain counts.
Probabilities are Laplace-smoothed: p = (1 + count) / (2 + seen), passes counted as seen."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from bot.analysis.matrix import FloatArray, IntArray, RatingsMatrix

MIN_VOTES = 7  # a member needs min(MIN_VOTES, n_candidates) votes to be placed
MIN_MEMBERS = 6  # fewer kept members than this: the analysis cannot separate groups
MIN_GROUP_SIZE = 3  # no one- or two-member groups: a group's shares are shown, so none is tiny
MAX_GROUPS = 5
BASE_CLUSTERS = 100
K_MARGIN = 0.05  # silhouette gain a new k needs to replace the previous k
# Silhouette by which k-means++ restarts must beat Polis's seeding to replace it. On the Polis
# reference data Polis's own groups trail by 0.15 (a local optimum from its history); on planted
# groups a failed seeding trails by 0.33 or more.
SEED_MARGIN = 0.25
Z90 = 1.2816  # one-sided 90% significance


@dataclass(frozen=True)
class Groups:
    """members[i] is in group labels[i] (0-based); projection[i] is their point on the opinion map."""

    ok: bool
    reason: str
    members: tuple[str, ...] = ()
    labels: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    projection: FloatArray = field(default_factory=lambda: np.zeros((0, 2)))
    k: int = 0
    silhouettes: dict[int, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        """member → group number, 1-based (as shown to people: "group 1", "group 2", …)."""
        return {m: int(g) + 1 for m, g in zip(self.members, self.labels, strict=True)} if self.ok else {}

    def sizes(self) -> list[int]:
        return [int(n) for n in np.bincount(self.labels, minlength=self.k)] if self.ok else []


def keep_mask(m: RatingsMatrix, min_votes: int | None = None) -> npt.NDArray[np.bool_]:
    need = min(MIN_VOTES, len(m.candidates)) if min_votes is None else min_votes
    return m.votes_per_member >= max(1, need)


def project(m: RatingsMatrix) -> FloatArray:
    """Members' 2-D opinion-map coordinates: PCA of the column-mean-filled matrix, sparsity-scaled."""
    votes = m.votes
    voted = ~np.isnan(votes)
    n_votes = voted.sum(axis=0)
    col_mean = np.divide(np.nansum(votes, axis=0), n_votes, out=np.zeros(votes.shape[1]), where=n_votes > 0)
    filled = np.where(voted, votes, col_mean)
    n_comp = min(2, filled.shape[0], filled.shape[1])
    proj = np.zeros((filled.shape[0], 2))
    if n_comp > 0 and filled.shape[0] > 1 and float(np.ptp(filled, axis=0).max(initial=0.0)) > 0:
        # the covariance route is exact and much faster when members far outnumber candidates
        solver = "covariance_eigh" if filled.shape[0] >= 10 * filled.shape[1] else "full"
        proj[:, :n_comp] = PCA(n_components=n_comp, svd_solver=solver).fit_transform(filled)
    per_member = np.maximum(voted.sum(axis=1), 1)
    scale = np.sqrt(votes.shape[1] / per_member)
    return np.asarray(proj * scale[:, None], dtype=np.float64)


def _first_distinct(points: FloatArray, k: int) -> FloatArray | None:
    """Polis seeds k-means with the first k distinct points (members in order of arrival)."""
    _, first = np.unique(np.round(points, 9), axis=0, return_index=True)
    if len(first) < k:
        return None
    return np.asarray(points[np.sort(first)[:k]], dtype=np.float64)


def _kmeans(points: FloatArray, k: int, weights: FloatArray, seed: int, *, polis_init: bool = True) -> IntArray:
    init = _first_distinct(points, k) if polis_init else None
    if init is None:
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(points, sample_weight=weights)
    else:
        km = KMeans(n_clusters=k, init=init, n_init=1).fit(points, sample_weight=weights)
    return np.asarray(km.labels_, dtype=np.int64)


def _base_clusters(points: FloatArray, seed: int) -> tuple[FloatArray, FloatArray, IntArray]:
    """(centers, weights, base label of each member). One member per base cluster when few."""
    if len(points) <= BASE_CLUSTERS:
        return points, np.ones(len(points)), np.arange(len(points), dtype=np.int64)
    labels = _kmeans(points, BASE_CLUSTERS, np.ones(len(points)), seed)
    weights = np.bincount(labels, minlength=BASE_CLUSTERS).astype(np.float64)
    used = weights > 0
    sums = np.stack([np.bincount(labels, weights=points[:, a], minlength=BASE_CLUSTERS) for a in range(2)], axis=1)
    centers = sums[used] / weights[used, None]
    remap = np.cumsum(used) - 1
    return np.asarray(centers, dtype=np.float64), weights[used], np.asarray(remap[labels], dtype=np.int64)


def _relabel(labels: IntArray, k: int) -> IntArray:
    """Group 0 is the largest; ties by the first member in it."""
    sizes = np.bincount(labels, minlength=k)
    first = np.array([int(np.argmax(labels == g)) for g in range(k)])
    order = sorted(range(k), key=lambda g: (-sizes[g], first[g]))
    new = np.empty(k, dtype=np.int64)
    new[order] = np.arange(k)
    return new[labels]


def _valid(labels: IntArray, weights: FloatArray, k: int) -> bool:
    sizes = np.bincount(labels, weights=weights, minlength=k)
    return bool(len(np.unique(labels)) == k and sizes.min() >= MIN_GROUP_SIZE)


def opinion_groups(m: RatingsMatrix, *, min_votes: int | None = None, previous_k: int | None = None, seed: int = 0) -> Groups:
    keep = keep_mask(m, min_votes)
    kept = m.rows(keep)
    n = len(kept.members)
    if n < MIN_MEMBERS:
        need = min(MIN_VOTES, len(m.candidates)) if min_votes is None else min_votes
        return Groups(
            False,
            f"only {n} member(s) reacted to at least {need} candidate(s); at least {MIN_MEMBERS} are needed "
            "to separate opinion groups, so these results are plain counts",
        )
    points = project(kept)
    centers, weights, base_of = _base_clusters(points, seed)
    distinct = len(np.unique(np.round(centers, 9), axis=0))
    fits: dict[int, IntArray] = {}
    scores: dict[int, float] = {}
    for k in range(2, MAX_GROUPS + 1):
        if k >= len(centers) or k > distinct or k * MIN_GROUP_SIZE > n:
            break
        seeded = _kmeans(centers, k, weights, seed)
        restarts = _kmeans(centers, k, weights, seed, polis_init=False)
        # k is judged by how well k groups can separate the members (the better of both seedings);
        # the groups keep Polis's seeding (stable as members arrive) unless the restarts separate
        # the members clearly better: then the seeding fell into a poor local optimum.
        fit: dict[str, float] = {}
        for name, labels in (("seeded", seeded), ("restarts", restarts)):
            if _valid(labels, weights, k):
                fit[name] = float(silhouette_score(centers, labels))
        if not fit:
            continue
        scores[k] = max(fit.values())
        use_seeded = "seeded" in fit and fit.get("restarts", -1.0) - fit["seeded"] <= SEED_MARGIN
        fits[k] = seeded if use_seeded else restarts
    if not scores:
        return Groups(False, f"the {n} members' reactions do not split into groups of at least {MIN_GROUP_SIZE}")
    best = max(scores, key=lambda k: (scores[k], -k))
    if previous_k in scores and scores[best] - scores[previous_k] < K_MARGIN:
        best = previous_k
    labels = _relabel(fits[best][base_of], best)
    return Groups(True, "", kept.members, labels, points, best, scores)


# ---------------------------------------------------------------- counts and statistics


@dataclass(frozen=True)
class GroupVotes:
    """Per group (rows) and candidate (columns): endorsements, objections, and votes seen (passes included)."""

    agree: IntArray
    disagree: IntArray
    seen: IntArray


def group_votes(m: RatingsMatrix, groups: Groups) -> GroupVotes:
    """Counts of each group's votes; members not placed in a group are not counted."""
    row = {mem: i for i, mem in enumerate(m.members)}
    idx = np.array([row[x] for x in groups.members], dtype=np.int64)
    votes = m.votes[idx] if len(idx) else np.zeros((0, len(m.candidates)))
    onehot = np.zeros((groups.k, len(idx)))
    onehot[groups.labels, np.arange(len(idx))] = 1.0
    agree = onehot @ (votes == 1)
    disagree = onehot @ (votes == -1)
    seen = onehot @ ~np.isnan(votes)
    return GroupVotes(agree.astype(np.int64), disagree.astype(np.int64), seen.astype(np.int64))


def overall_votes(m: RatingsMatrix) -> GroupVotes:
    """Everyone as one group: the plain counts."""
    v = m.votes
    return GroupVotes(
        (v == 1).sum(axis=0, keepdims=True).astype(np.int64),
        (v == -1).sum(axis=0, keepdims=True).astype(np.int64),
        (~np.isnan(v)).sum(axis=0, keepdims=True).astype(np.int64),
    )


Counts = npt.NDArray[np.int64] | npt.NDArray[np.float64]


def smoothed(count: Counts, seen: Counts) -> FloatArray:
    return np.asarray((1.0 + count) / (2.0 + seen), dtype=np.float64)


def group_aware_consensus(gv: GroupVotes, *, disagree: bool = False) -> FloatArray:
    """GAC(c) = Π_g (1 + agrees of g on c) / (2 + votes of g on c)."""
    counts = gv.disagree if disagree else gv.agree
    return np.asarray(np.prod(smoothed(counts, gv.seen), axis=0), dtype=np.float64)


def prop_test(success: FloatArray | IntArray, n: FloatArray | IntArray) -> FloatArray:
    """One-proportion z against 1/2: 2·sqrt(n+1)·((success+1)/(n+1) − 1/2)."""
    n1 = np.asarray(n, dtype=np.float64) + 1.0
    return np.asarray(2.0 * np.sqrt(n1) * ((np.asarray(success, dtype=np.float64) + 1.0) / n1 - 0.5), dtype=np.float64)


def two_prop_test(succ_in: FloatArray, succ_out: FloatArray, n_in: FloatArray, n_out: FloatArray) -> FloatArray:
    """Two-proportion z between a group and the rest, +1 smoothing on every count."""
    s1, s2, p1, p2 = succ_in + 1.0, succ_out + 1.0, n_in + 1.0, n_out + 1.0
    pi1, pi2 = s1 / p1, s2 / p2
    pi_hat = (s1 + s2) / (p1 + p2)
    denom = np.sqrt(pi_hat * (1.0 - pi_hat) * (1.0 / p1 + 1.0 / p2))
    return np.asarray(np.divide(pi1 - pi2, denom, out=np.zeros_like(pi1), where=denom > 0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Repness:
    group: int
    candidate: int  # candidate id
    direction: str  # "agree" (the group endorses it more than the rest) or "disagree"
    n_success: int
    n_trials: int
    p_success: float
    p_test: float
    repness: float
    repness_test: float

    @property
    def significant(self) -> bool:
        return self.p_test > Z90 and self.repness_test > Z90

    @property
    def metric(self) -> float:
        return self.repness * self.repness_test * self.p_success * self.p_test


def repness_table(gv: GroupVotes, candidates: tuple[int, ...]) -> list[list[Repness]]:
    """For each group, every candidate it voted on, in the direction that represents it better,
    sorted by r · z_r · p · z_p (most representative first)."""
    a, d, s = (x.astype(np.float64) for x in (gv.agree, gv.disagree, gv.seen))
    ra_, rd_, rs_ = a.sum(axis=0) - a, d.sum(axis=0) - d, s.sum(axis=0) - s
    pa, pd = smoothed(a, s), smoothed(d, s)
    pat, pdt = prop_test(a, s), prop_test(d, s)
    ra, rd = pa / smoothed(ra_, rs_), pd / smoothed(rd_, rs_)
    rat, rdt = two_prop_test(a, ra_, s, rs_), two_prop_test(d, rd_, s, rs_)
    out: list[list[Repness]] = []
    for g in range(a.shape[0]):
        rows: list[Repness] = []
        for j, cand in enumerate(candidates):
            if s[g, j] == 0:
                continue
            if rat[g, j] > rdt[g, j]:
                rows.append(Repness(g, cand, "agree", int(a[g, j]), int(s[g, j]), pa[g, j], pat[g, j], ra[g, j], rat[g, j]))
            else:
                rows.append(Repness(g, cand, "disagree", int(d[g, j]), int(s[g, j]), pd[g, j], pdt[g, j], rd[g, j], rdt[g, j]))
        rows.sort(key=lambda r: -r.metric)
        out.append(rows)
    return out


def representative(table: list[list[Repness]], limit: int = 5) -> list[list[Repness]]:
    """What each group stands for, chosen as Polis does: the significant rows by r · z_r · p · z_p,
    led by the group's best endorsed candidate; when nothing is significant, that best endorsed
    candidate alone (so every group can be described). At most `limit` per group."""
    out: list[list[Repness]] = []
    for rows in table:
        agreed = [r for r in rows if r.direction == "agree" and r.p_test > 0]
        best_agree = agreed[0] if agreed else None  # rows are sorted by metric already
        sufficient = [r for r in rows if r.significant]
        if not sufficient:
            out.append([best_agree] if best_agree is not None else [])
            continue
        if best_agree is not None:
            sufficient = [best_agree, *(r for r in sufficient if r is not best_agree)]
        out.append(sufficient[:limit])
    return out


@dataclass(frozen=True, slots=True)
class Consensus:
    candidate: int
    direction: str  # "agree": endorsed across the board; "disagree": objected to across the board
    n_success: int
    n_trials: int
    p_success: float
    p_test: float


def consensus(gv: GroupVotes, candidates: tuple[int, ...]) -> list[Consensus]:
    """Candidates with p > 1/2 and z > 1.2816 over everyone counted (Polis counts every voter here,
    grouped or not: pass overall_votes of the full matrix), endorsed ones first, each by p · z."""
    a, d, s = gv.agree.sum(axis=0), gv.disagree.sum(axis=0), gv.seen.sum(axis=0)
    out: list[Consensus] = []
    for direction, cnt in (("agree", a), ("disagree", d)):
        p, z = smoothed(cnt, s), prop_test(cnt, s)
        for j in np.flatnonzero((p > 0.5) & (z > Z90)):
            out.append(Consensus(candidates[j], direction, int(cnt[j]), int(s[j]), float(p[j]), float(z[j])))
    out.sort(key=lambda c: (c.direction != "agree", -c.p_success * c.p_test))
    return out


def divisive(gv: GroupVotes, candidates: tuple[int, ...]) -> list[tuple[int, float]]:
    """Candidates some group significantly endorses while another significantly objects to them,
    with the spread of endorsement shares between groups, widest first."""
    a, d, s = gv.agree, gv.disagree, gv.seen
    pa, pd = smoothed(a, s), smoothed(d, s)
    leans_up = (pa > 0.5) & (prop_test(a, s) > Z90)
    leans_down = (pd > 0.5) & (prop_test(d, s) > Z90)
    split = leans_up.any(axis=0) & leans_down.any(axis=0)
    spread = pa.max(axis=0) - pa.min(axis=0) if len(pa) else np.zeros(len(candidates))
    found = [(candidates[j], float(spread[j])) for j in np.flatnonzero(split)]
    return sorted(found, key=lambda x: -x[1])
