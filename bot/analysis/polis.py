"""Opinion groups as Polis computes them, and the statistics built on them.

The rules of Polis's math (compdemocracy/polis, math/src/polismath/math/conversation.clj, pca.clj,
clusters.clj, repness.clj), implemented from their description:

1. In the conversation: participants with at least min(7, number of statements) votes, counting
   votes on every statement (moderated-out ones included); once in, a participant stays in; when
   fewer than 15 are in, the most active others are added up to 15.
2. Moderated-out statements keep their column, zeroed for everyone (so they count as votes in the
   scaling below). Missing votes are filled with the column mean; PCA to 2 components is fitted on
   EVERY participant, then narrowed to those in the conversation.
3. Each participant's projection is scaled by sqrt(n_statements / n_votes_of_participant).
4. k-means into up to 100 base clusters, then k-means of the base clusters (weighted by size) into
   k = 2 … min(5, 2 + base clusters // 12) groups. Polis's k-means: seeded with the first k distinct
   points (rows in order of arrival), or warm-started from the previous recomputation's clusters
   (recentred on their members, the most distant point split off while more clusters are possible);
   empty clusters are dropped; it stops when every centre moves less than 0.01. k is chosen by
   silhouette over the base clusters, and Polis switches to a new k only after it has been the best
   K_BUFFER recomputations in a row. What carries over between recomputations (who is in, the base
   clusters, each k's groups, the k smoother) is `PolisState`.

The bot adds two floors for small communities (`BOT_RULES`): no groups with fewer than MIN_MEMBERS
participants in the conversation, and no k whose groups include one of fewer than MIN_GROUP_SIZE
members (a group's shares are posted, so none may be tiny). `POLIS_RULES` has neither, as Polis.
Probabilities are Laplace-smoothed: p = (1 + count) / (2 + seen), passes counted as seen."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.cluster.vq import vq
from sklearn.decomposition import PCA
from sklearn.metrics import pairwise_distances, silhouette_samples

from bot.analysis.matrix import FloatArray, IntArray, RatingsMatrix
from bot.analysis.state import Cluster, KSmoother, PolisState

BoolArray = npt.NDArray[np.bool_]

IN_CONV_VOTES = 7  # a participant needs min(IN_CONV_VOTES, n_statements) votes to be in the conversation
IN_CONV_GREEDY = 15  # below this many in the conversation, the most active are added up to it
BASE_K = 100
BASE_ITERS = 100
# clusters.clj's own default: conversation.clj passes its group-iters option under a name kmeans does not read
GROUP_ITERS = 20
MAX_K = 5
K_BUFFER = 4  # recomputations in a row a new k must win before the groups switch to it
SAME_CENTRE = 0.01  # k-means has converged when every centre moved less than this
MIN_MEMBERS = 6  # bot: fewer participants in the conversation than this, no groups
MIN_GROUP_SIZE = 3  # bot: no k whose clustering has a group smaller than this
Z90 = 1.2816  # one-sided 90% significance


@dataclass(frozen=True)
class GroupRules:
    min_members: int = 1
    min_group_size: int = 1


POLIS_RULES = GroupRules()
BOT_RULES = GroupRules(MIN_MEMBERS, MIN_GROUP_SIZE)


# ---------------------------------------------------------------- who is in, and where


def in_conversation(counts: IntArray, n_statements: int, previous: BoolArray | None = None) -> BoolArray:
    """Participants in the conversation, from their vote counts on every statement."""
    keep = counts >= min(IN_CONV_VOTES, n_statements)
    if previous is not None:
        keep = keep | previous
    missing = IN_CONV_GREEDY - int(keep.sum())
    if missing > 0:
        others = np.flatnonzero(~keep)
        most_active = others[np.argsort(-counts[others], kind="stable")][:missing]
        keep = keep.copy()
        keep[most_active] = True
    return np.asarray(keep, dtype=np.bool_)


def in_conversation_history(votes: Iterable[tuple[str, int, int]], *, n_statements: int) -> set[str]:
    """Who Polis has let into the conversation along a vote history: votes as (participant,
    statement, tick) in time order, a tick being the recomputation the vote lands in (Polis recomputes
    once a second as votes arrive). At each tick the rule is applied to the counts so far, with
    n_statements growing as statements get their first votes; once in, a participant stays in.
    Replayed only while that can differ from applying the rule once at the end: until
    min(7, n_statements) statements have votes and 15 participants are in."""
    need_final = min(IN_CONV_VOTES, n_statements)
    counts: dict[str, int] = {}
    voted: set[tuple[str, int]] = set()
    statements: set[int] = set()
    in_conv: set[str] = set()
    for _, batch in groupby(votes, key=lambda v: v[2]):
        voters = []
        for who, what, _tick in batch:
            if (who, what) not in voted:
                voted.add((who, what))
                counts[who] = counts.get(who, 0) + 1
                statements.add(what)
                voters.append(who)
        need = min(IN_CONV_VOTES, len(statements))
        in_conv.update(p for p in voters if counts[p] >= need)
        if len(in_conv) < IN_CONV_GREEDY:
            others = sorted((p for p in counts if p not in in_conv), key=lambda p: -counts[p])
            in_conv.update(others[: IN_CONV_GREEDY - len(in_conv)])
        if len(statements) >= need_final and len(in_conv) >= IN_CONV_GREEDY:
            break
    return in_conv


def statement_columns(m: RatingsMatrix) -> BoolArray:
    """The statements of Polis's vote matrix: those with at least one vote."""
    return np.asarray(m.voted.any(axis=0), dtype=np.bool_)


def project(m: RatingsMatrix, moderated_out: Collection[int] = ()) -> FloatArray:
    """Every participant's 2-D opinion-map point: PCA of the column-mean-filled matrix (moderated-out
    columns zeroed), fitted on all of them, each scaled by sqrt(n_statements / n_votes), moderated-out
    statements counting as votes."""
    cols = statement_columns(m)
    votes = m.votes[:, cols].copy()
    votes[:, [c in moderated_out for c in np.asarray(m.candidates)[cols]]] = 0.0
    voted = ~np.isnan(votes)
    n_votes = voted.sum(axis=0)
    col_mean = np.divide(np.nansum(votes, axis=0), n_votes, out=np.zeros(votes.shape[1]), where=n_votes > 0)
    filled = np.where(voted, votes, col_mean)
    n_comp = min(2, filled.shape[0], filled.shape[1])
    proj = np.zeros((filled.shape[0], 2))
    if n_comp > 0 and filled.shape[0] > 1 and float(np.ptp(filled, axis=0).max(initial=0.0)) > 0:
        # the covariance route is exact and much faster when participants far outnumber statements
        solver = "covariance_eigh" if filled.shape[0] >= 10 * filled.shape[1] else "full"
        pca = PCA(n_components=n_comp, svd_solver=solver).fit(filled)
        # participants who voted alike must land on the very same point (Polis counts distinct
        # points), which a blocked matrix product does not promise row by row: project each
        # distinct row once
        code: dict[bytes, int] = {}
        rows = np.fromiter((code.setdefault(r.tobytes(), len(code)) for r in filled), dtype=np.int64, count=len(filled))
        first = np.unique(rows, return_index=True)[1]
        proj[:, :n_comp] = pca.transform(filled[first])[rows]
    scale = np.sqrt(votes.shape[1] / np.maximum(voted.sum(axis=1), 1))
    return np.asarray(proj * scale[:, None], dtype=np.float64)


# ---------------------------------------------------------------- Polis's k-means
# Written out rather than taken from scikit-learn: Polis drops empty clusters (scikit-learn moves
# them), stops on centres moving less than 0.01, and warm-starts from the previous clusters' members.


@dataclass(frozen=True)
class Clustering:
    ids: IntArray  # cluster ids, ascending
    labels: IntArray  # each point's cluster, as an index into ids
    centres: FloatArray

    def members(self, names: Sequence[Any]) -> tuple[Cluster, ...]:
        groups = (np.flatnonzero(self.labels == g) for g in range(len(self.ids)))
        return tuple(Cluster(int(i), tuple(names[int(p)] for p in found)) for i, found in zip(self.ids, groups, strict=True))


def _weighted_centres(points: FloatArray, weights: FloatArray, labels: IntArray, n: int) -> tuple[FloatArray, FloatArray]:
    mass = np.asarray(np.bincount(labels, weights=weights, minlength=n), dtype=np.float64)
    sums = np.stack([np.bincount(labels, weights=weights * points[:, a], minlength=n) for a in range(points.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / mass[:, None], mass


def _first_distinct(points: FloatArray, k: int) -> IntArray:
    _, first = np.unique(points, axis=0, return_index=True)
    return np.asarray(np.sort(first)[:k], dtype=np.int64)


def _same_clustering(a: FloatArray, b: FloatArray) -> bool:
    sa, sb = a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])]
    n = min(len(sa), len(sb))
    return bool((np.linalg.norm(sa[:n] - sb[:n], axis=1) < SAME_CENTRE).all())


def _step(points: FloatArray, weights: FloatArray, ids: IntArray, centres: FloatArray) -> tuple[IntArray, FloatArray, IntArray]:
    """One k-means step: each point to its nearest centre, empty clusters dropped, centres recomputed."""
    nearest, _ = vq(points, centres, check_finite=False)
    used = np.bincount(nearest, minlength=len(ids)) > 0
    remap = np.cumsum(used) - 1
    labels = np.asarray(remap[nearest], dtype=np.int64)
    new_centres, _ = _weighted_centres(points, weights, labels, int(used.sum()))
    return ids[used], new_centres, labels


def _split_distal(points: FloatArray, weights: FloatArray, labels: IntArray, ids: list[int], possible: int) -> IntArray:
    """While more clusters are possible, the point farthest from every centre becomes a cluster of
    its own, taken from the cluster that held it (labels: −1 for points no cluster holds yet)."""
    n = len(ids)
    centres, _ = _weighted_centres(points, weights, np.where(labels < 0, n, labels), n + 1)
    dist = pairwise_distances(points, centres[:n])
    while len(ids) < possible:
        nearest = dist.min(axis=1)
        far = len(nearest) - 1 - int(np.argmax(nearest[::-1]))  # the last of the farthest, as Polis
        if nearest[far] <= 0:
            break
        old = int(labels[far])
        labels[far] = len(ids)
        ids.append(max(ids) + 1)
        dist = np.column_stack([dist, np.linalg.norm(points - points[far], axis=1)])
        if old >= 0:
            mine = labels == old
            centre = (weights[mine] @ points[mine]) / weights[mine].sum()
            dist[:, old] = np.linalg.norm(points - centre, axis=1)
    return labels


def _warm_start(
    points: FloatArray, weights: FloatArray, k: int, previous: Sequence[IntArray], previous_ids: Sequence[int]
) -> tuple[IntArray, FloatArray]:
    """The previous clusters recentred on their members still present, identical ones merged, and
    split further while fewer than k (and fewer than the distinct points)."""
    labels = np.full(len(points), -1, dtype=np.int64)
    ids: list[int] = []
    seen: dict[tuple[float, ...], int] = {}
    for cid, members in zip(previous_ids, previous, strict=True):
        members = members[labels[members] < 0]
        if len(members) == 0:
            continue
        centre = tuple(((weights[members] @ points[members]) / weights[members].sum()).tolist())
        if centre in seen:  # identical centres merge; the larger cluster's id stays (the later on a tie)
            g = seen[centre]
            if len(members) >= int((labels == g).sum()):
                ids[g] = cid
            labels[members] = g
            continue
        seen[centre] = len(ids)
        labels[members] = len(ids)
        ids.append(cid)
    if not ids:
        return _cold_start(points, k)
    possible = min(k, len(np.unique(points, axis=0)))
    labels = _split_distal(points, weights, labels, ids, possible)
    centres, _ = _weighted_centres(points, weights, np.where(labels < 0, len(ids), labels), len(ids) + 1)
    return np.asarray(ids, dtype=np.int64), centres[: len(ids)]


def _cold_start(points: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    first = _first_distinct(points, k)
    return np.arange(len(first), dtype=np.int64), points[first].copy()


def kmeans(
    points: FloatArray,
    k: int,
    *,
    weights: FloatArray | None = None,
    previous: Sequence[tuple[int, IntArray]] = (),
    max_iters: int = BASE_ITERS,
) -> Clustering:
    """Polis's k-means. previous: (cluster id, member point indices) of the last recomputation."""
    w = np.ones(len(points)) if weights is None else weights
    if previous:
        ids, centres = _warm_start(points, w, k, [m for _, m in previous], [i for i, _ in previous])
    else:
        ids, centres = _cold_start(points, k)
    for _ in range(max_iters + 1):
        new_ids, new_centres, labels = _step(points, w, ids, centres)
        done = _same_clustering(centres, new_centres)
        ids, centres = new_ids, new_centres
        if done:
            break
    order = np.argsort(ids, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return Clustering(ids[order], np.asarray(rank[labels], dtype=np.int64), centres[order])


def silhouette(distances: FloatArray, labels: IntArray) -> float:
    """Mean silhouette over the points (base clusters), unweighted; a point alone in its group scores 0."""
    n_groups = len(np.unique(labels))
    if n_groups == len(labels):
        return 0.0
    return float(silhouette_samples(distances, labels, metric="precomputed").mean())


# ---------------------------------------------------------------- opinion groups


@dataclass(frozen=True)
class Groups:
    """members[i] is in group labels[i] (0-based, in the order of Polis's cluster ids); projection[i]
    is their point on the opinion map. state: what the next recomputation starts from."""

    ok: bool
    reason: str
    members: tuple[str, ...] = ()
    labels: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    projection: FloatArray = field(default_factory=lambda: np.zeros((0, 2)))
    k: int = 0
    silhouettes: dict[int, float] = field(default_factory=dict)
    state: PolisState | None = None

    def as_dict(self) -> dict[str, int]:
        """member → group number, 1-based (as shown to people: "group 1", "group 2", …)."""
        return {m: int(g) + 1 for m, g in zip(self.members, self.labels, strict=True)} if self.ok else {}

    def sizes(self) -> list[int]:
        return [int(n) for n in np.bincount(self.labels, minlength=self.k)] if self.ok else []


def _index_members(clusters: Iterable[Cluster], index: Mapping[Any, int]) -> list[tuple[int, IntArray]]:
    out: list[tuple[int, IntArray]] = []
    for c in clusters:
        found = np.fromiter((index[m] for m in c.members if m in index), dtype=np.int64)
        if len(found):
            out.append((c.id, found))
    return out


def _smooth(previous: KSmoother, best: int) -> KSmoother:
    count = previous.last_k_count + 1 if previous.last_k == best else 1
    smoothed = best if count >= K_BUFFER or previous.smoothed_k is None else previous.smoothed_k
    return KSmoother(best, count, smoothed)


@dataclass(frozen=True)
class _GroupFit:
    clusterings: dict[int, Clustering]
    scores: dict[int, float]  # k → silhouette, for the k the rules allow


def _group_clusterings(base: Clustering, sizes: FloatArray, state: PolisState, rules: GroupRules) -> _GroupFit:
    max_k = min(MAX_K, 2 + len(base.ids) // 12)
    dist = pairwise_distances(base.centres)
    index = {int(b): i for i, b in enumerate(base.ids)}
    fits: dict[int, Clustering] = {}
    scores: dict[int, float] = {}
    for k in range(2, max_k + 1):
        previous = _index_members(state.group_clusterings.get(k, ()), index)
        fits[k] = kmeans(base.centres, k, weights=sizes, previous=previous, max_iters=GROUP_ITERS)
        group_sizes = np.bincount(fits[k].labels, weights=sizes)
        if len(fits[k].ids) >= 2 and group_sizes.min() >= rules.min_group_size:
            scores[k] = silhouette(dist, fits[k].labels)
    return _GroupFit(fits, scores)


def _no_groups(reason: str, state: PolisState) -> Groups:
    return Groups(False, reason, state=state)


def opinion_groups(
    m: RatingsMatrix,
    *,
    moderated_out: Collection[int] = (),
    state: PolisState | None = None,
    rules: GroupRules = BOT_RULES,
) -> Groups:
    """One recomputation of Polis's groups. m: every participant (rows in order of arrival) × every
    statement (moderated-out ones included); state: the previous recomputation's, or None."""
    state = state or PolisState()
    row = {name: i for i, name in enumerate(m.members)}
    previous_in = np.zeros(len(m.members), dtype=np.bool_)
    previous_in[[row[p] for p in state.in_conv if p in row]] = True
    n_statements = int(statement_columns(m).sum())
    keep = in_conversation(m.votes_per_member, n_statements, previous_in)
    members = tuple(p for p, k in zip(m.members, keep, strict=True) if k)
    kept_state = replace(state, in_conv=members)
    if len(members) < rules.min_members:
        return _no_groups(
            f"only {len(members)} member(s) are in the conversation (reacted to at least "
            f"{min(IN_CONV_VOTES, n_statements)} candidate(s), or among the {IN_CONV_GREEDY} most active); "
            f"at least {rules.min_members} are needed to separate opinion groups, so these results are plain counts",
            kept_state,
        )
    points = project(m, moderated_out)[keep]
    index = {p: i for i, p in enumerate(members)}
    base = kmeans(points, BASE_K, previous=_index_members(state.base_clusters, index), max_iters=BASE_ITERS)
    sizes = np.bincount(base.labels, minlength=len(base.ids)).astype(np.float64)
    fit = _group_clusterings(base, sizes, state, rules)
    new_state = replace(
        kept_state,
        base_clusters=base.members(members),
        group_clusterings={k: c.members([int(b) for b in base.ids]) for k, c in fit.clusterings.items()},
    )
    if not fit.scores:
        floor = f" of at least {rules.min_group_size} members" if rules.min_group_size > 1 else ""
        return _no_groups(f"the {len(members)} members' reactions do not split into groups{floor}", new_state)
    best = max(fit.scores, key=lambda k: (fit.scores[k], k))  # a tie goes to the larger k, as Polis
    smoother = _smooth(state.smoother, best)
    k = smoother.smoothed_k if smoother.smoothed_k in fit.scores else best
    assert k is not None
    groups = fit.clusterings[k]
    new_state = replace(new_state, smoother=smoother, k=k)
    labels = np.asarray(groups.labels[base.labels], dtype=np.int64)
    return Groups(True, "", members, labels, points, len(groups.ids), fit.scores, new_state)


def groups_from_state(m: RatingsMatrix, state: PolisState, *, moderated_out: Collection[int] = ()) -> Groups:
    """The groups a previous recomputation found, read back without recomputing (for the same
    reactions: results asked for again, or the groups announced when REVIEW closed)."""
    clusters = state.group_clusterings.get(state.k or 0, ())
    row = {name: i for i, name in enumerate(m.members)}
    group_of_base = {b: g for g, c in enumerate(clusters) for b in c.members}
    placed = {p: group_of_base[c.id] for c in state.base_clusters if c.id in group_of_base for p in c.members if p in row}
    members = tuple(p for p in m.members if p in placed)
    if not clusters or len({placed[p] for p in members}) < 2:
        return _no_groups("no opinion groups were found for these reactions", state)
    used = sorted({placed[p] for p in members})
    rank = {g: i for i, g in enumerate(used)}
    labels = np.array([rank[placed[p]] for p in members], dtype=np.int64)
    points = project(m, moderated_out)[[row[p] for p in members]]
    return Groups(True, "", members, labels, points, len(used), {}, state)


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
    rows = [votes[groups.labels == g] for g in range(groups.k)]
    count = [np.stack([(r == v).sum(axis=0) for r in rows]) if rows else np.zeros((0, len(m.candidates))) for v in (1, -1)]
    seen = np.stack([(~np.isnan(r)).sum(axis=0) for r in rows]) if rows else np.zeros((0, len(m.candidates)))
    return GroupVotes(count[0].astype(np.int64), count[1].astype(np.int64), seen.astype(np.int64))


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
    repness_test: float  # a 32-bit float, as Polis keeps it
    significant: bool  # the share and its difference from the rest pass z > 1.2816, in either direction
    best_agree: bool = False  # led the group's list as its best endorsed candidate

    @property
    def metric(self) -> float:
        return self.repness * self.repness_test * self.p_success * self.p_test


@dataclass(frozen=True)
class RepnessStats:
    """Every figure of repness.clj, groups × candidates: counts, smoothed shares and their tests,
    the ratio to the rest of the groups and its two-proportion test, for agree and disagree."""

    candidates: tuple[int, ...]
    na: FloatArray
    nd: FloatArray
    ns: FloatArray
    pa: FloatArray
    pd: FloatArray
    pat: FloatArray
    pdt: FloatArray
    ra: FloatArray
    rd: FloatArray
    rat: FloatArray
    rdt: FloatArray

    def row(self, g: int, j: int, *, best_agree: bool = False) -> Repness:
        """The candidate's figures in the direction that represents the group better (rat > rdt: agree)."""
        if self.rat[g, j] > self.rdt[g, j]:
            n, p, pt, r, rt, d = self.na, self.pa, self.pat, self.ra, self.rat, "agree"
        else:
            n, p, pt, r, rt, d = self.nd, self.pd, self.pdt, self.rd, self.rdt, "disagree"
        rt32 = float(np.float32(rt[g, j]))
        figures = (float(p[g, j]), float(pt[g, j]), float(r[g, j]), rt32, _passes(self, g, j))
        return Repness(g, self.candidates[j], d, int(n[g, j]), int(self.ns[g, j]), *figures, best_agree)


def repness_stats(gv: GroupVotes, candidates: tuple[int, ...]) -> RepnessStats:
    a, d, s = (x.astype(np.float64) for x in (gv.agree, gv.disagree, gv.seen))
    ra_, rd_, rs_ = a.sum(axis=0) - a, d.sum(axis=0) - d, s.sum(axis=0) - s
    pa, pd = smoothed(a, s), smoothed(d, s)
    return RepnessStats(
        candidates,
        a,
        d,
        s,
        pa,
        pd,
        prop_test(a, s),
        prop_test(d, s),
        pa / smoothed(ra_, rs_),
        pd / smoothed(rd_, rs_),
        two_prop_test(a, ra_, s, rs_),
        two_prop_test(d, rd_, s, rs_),
    )


def repness_table(gv: GroupVotes, candidates: tuple[int, ...]) -> list[list[Repness]]:
    """For each group, every candidate in the direction that represents it better, sorted by
    r · z_r · p · z_p (most representative first)."""
    st = repness_stats(gv, candidates)
    return [sorted((st.row(g, j) for j in range(len(candidates))), key=lambda r: -r.metric) for g in range(gv.agree.shape[0])]


def _passes(st: RepnessStats, g: int, j: int) -> bool:
    """Significant in either direction: the share and the difference from the rest both pass."""
    return bool((st.rat[g, j] > Z90 and st.pat[g, j] > Z90) or (st.rdt[g, j] > Z90 and st.pdt[g, j] > Z90))


def _beats_best_agree(st: RepnessStats, g: int, j: int, best: int | None) -> bool:
    """Polis's ordered scan for the group's best endorsed candidate (repness.clj, beats-best-agr?)."""
    if st.na[g, j] == 0 and st.nd[g, j] == 0:
        return False
    here = st.ra[g, j] * st.rat[g, j] * st.pa[g, j] * st.pat[g, j]
    if best is not None and st.ra[g, best] > 1.0:
        return bool(here > st.ra[g, best] * st.rat[g, best] * st.pa[g, best] * st.pat[g, best])
    if best is not None:
        return bool(st.pa[g, j] * st.pat[g, j] > st.pa[g, best] * st.pat[g, best])
    return bool(st.pat[g, j] > Z90 or (st.ra[g, j] > 1.0 and st.pa[g, j] > 0.5))


def _group_representative(st: RepnessStats, g: int, columns: Sequence[int], limit: int) -> list[Repness]:
    sufficient: list[Repness] = []
    best: Repness | None = None
    best_agree: int | None = None
    for j in columns:
        if _passes(st, g, j):
            sufficient.append(st.row(g, j))
        if not sufficient and (best is None or max(st.rat[g, j], st.rdt[g, j]) > best.repness_test):
            best = st.row(g, j)
        if _beats_best_agree(st, g, j, best_agree):
            best_agree = j
    lead = [st.row(g, best_agree, best_agree=True)] if best_agree is not None else []
    if not sufficient:
        return lead or ([best] if best is not None else [])
    rest = sorted((r for r in sufficient if not lead or r.candidate != lead[0].candidate), key=lambda r: -r.metric)
    chosen = [*lead, *rest][:limit]
    return [r for r in chosen if r.direction == "agree"] + [r for r in chosen if r.direction == "disagree"]


def representative(
    gv: GroupVotes, candidates: tuple[int, ...], *, excluded: Collection[int] = (), limit: int = 5
) -> list[list[Repness]]:
    """What each group stands for, chosen as Polis does (repness.clj, select-rep-comments): the
    candidates significant in either direction, by r · z_r · p · z_p, led by the winner of an ordered
    scan over the endorsement figures (even when it ends up labelled disagree); at most `limit`, the
    endorsed ones first. When nothing is significant: that lead alone, or else the candidate with the
    largest difference from the rest. `excluded`: moderated-out candidates."""
    st = repness_stats(gv, candidates)
    columns = [j for j, c in enumerate(candidates) if c not in excluded]
    return [_group_representative(st, g, columns, limit) for g in range(gv.agree.shape[0])]


@dataclass(frozen=True, slots=True)
class Consensus:
    candidate: int
    direction: str  # "agree": endorsed across the board; "disagree": objected to across the board
    n_success: int
    n_trials: int
    p_success: float
    p_test: float


def consensus(gv: GroupVotes, candidates: tuple[int, ...], *, excluded: Collection[int] = ()) -> list[Consensus]:
    """Candidates with p > 1/2 and z > 1.2816 over everyone counted (Polis counts every voter here,
    grouped or not: pass overall_votes of the full matrix), endorsed ones first, each by p · z."""
    a, d, s = gv.agree.sum(axis=0), gv.disagree.sum(axis=0), gv.seen.sum(axis=0)
    out: list[Consensus] = []
    for direction, cnt in (("agree", a), ("disagree", d)):
        p, z = smoothed(cnt, s), prop_test(cnt, s)
        for j in np.flatnonzero((p > 0.5) & (z > Z90)):
            if candidates[j] not in excluded:
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
