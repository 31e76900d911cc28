"""Benchmark of the pluralistic analysis, on synthetic data, in one run:

1. A round of 10,000 members × 200 candidates (50 scenarios × 4) at 30% density, three planted
   opinion groups, every member also picking a best candidate in 30% of the scenarios: the full
   analysis from the kept reaction events (current stances, matrix, comparisons, opinion groups,
   consensus, representativeness, Bradley-Terry per scenario overall and per group, Community Notes
   model). Target: under 3 s, and faster than red-dwarf's Polis pipeline (polis-community/red-dwarf,
   run_pipeline) timed in the same run on the same votes; the Polis part of ours (opinion groups,
   group-aware consensus, consensus, representative statements) is timed alone beside it too.
2. Community Alignment scale: 200,000 pick-one-of-4 choices over 50,000 scenarios. Every
   scenario's Plackett-Luce model fitted at once (bot.analysis.choice.fit_top1) against choix's
   ilsr_top1 fitted scenario by scenario, same alpha. Target: at least 10× faster, same scores
   (up to a shift), peak memory reported.

Run: python bench/analysis.py   (results are printed last, one per line, beside their targets)
"""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import choix
import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.analysis import polis
from bot.analysis.choice import ALPHA, ChoiceData, fit_top1
from bot.analysis.matrix import RatingsMatrix
from bot.analysis.pipeline import CandidateInfo, RoundInput, analyse, opinion_groups
from bot.domain.model import Stance
from bot.domain.preferences import ReactionEvent

STANCES = (Stance.OBJECT, Stance.PASS, Stance.ENDORSE)


def synthetic_round(members: int = 10_000, scenarios: int = 50, k: int = 4, density: float = 0.3, seed: int = 0) -> RoundInput:
    rng = np.random.default_rng(seed)
    n_cand = scenarios * k
    cands = tuple(CandidateInfo(i + 1, i // k + 1, f"S{i // k + 1}·{'ABCD'[i % k]}", f"candidate {i + 1}") for i in range(n_cand))
    group = rng.integers(0, 3, size=members)
    opinion = rng.normal(0.0, 1.0, size=(3, n_cand))
    events: list[ReactionEvent] = []
    seq = 0
    for u in range(members):
        who = f"m{u}"
        voted = np.flatnonzero(rng.random(n_cand) < density)
        lean = opinion[group[u], voted] + rng.normal(0.0, 0.7, size=len(voted))
        vote = np.where(lean > 0.4, 2, np.where(lean < -0.4, 0, 1))
        for j, v in zip(voted, vote, strict=True):
            seq += 1
            events.append(ReactionEvent(seq, who, int(j) + 1, STANCES[v], False))
        for s in np.flatnonzero(rng.random(scenarios) < density):
            best = int(np.argmax(opinion[group[u], s * k : (s + 1) * k] + rng.normal(0.0, 0.5, size=k)))
            seq += 1
            events.append(ReactionEvent(seq, who, int(s) * k + best + 1, Stance.BEST, False))
    return RoundInput(1, cands, {s + 1: f"scenario {s + 1}" for s in range(scenarios)}, tuple(events))


def community_alignment(choices: int = 200_000, scenarios: int = 50_000, k: int = 4, seed: int = 1) -> ChoiceData:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, 1.0, size=(scenarios, k))
    scenario = np.repeat(np.arange(scenarios), choices // scenarios)
    gumbel = rng.gumbel(size=(len(scenario), k))
    winner = np.argmax(truth[scenario] + gumbel, axis=1)
    shown = np.ones((len(scenario), k), dtype=bool)
    return ChoiceData(np.full(scenarios, k, dtype=np.int64), scenario, winner, shown)


def polis_part(inp: RoundInput, m: RatingsMatrix) -> polis.Groups:
    """What red-dwarf computes: opinion groups, group-aware consensus, consensus, representative
    statements (on one BLAS thread, as analyse runs them)."""
    with threadpool_limits(limits=1, user_api="blas"):
        groups = opinion_groups(inp, m, None)
        gv = polis.group_votes(m, groups)
        polis.group_aware_consensus(gv)
        polis.representative(gv, m.candidates)
        polis.consensus(polis.overall_votes(m), m.candidates)
    return groups


def red_dwarf(m: RatingsMatrix) -> tuple[float, int]:
    """red-dwarf's Polis pipeline on the same votes: (seconds, groups found)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its pydantic models warn about their own field metadata on import
        from reddwarf.implementations.polis import run_pipeline

    rows, cols = np.nonzero(~np.isnan(m.votes))
    votes = [
        {"participant_id": int(i), "statement_id": int(m.candidates[j]), "vote": int(m.votes[i, j]), "modified": 0}
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        result = run_pipeline(votes=votes, random_state=0)
        elapsed = time.perf_counter() - start
    return elapsed, int(result.clusterer.n_clusters) if result.clusterer is not None else 0


def choix_loop(data: ChoiceData) -> np.ndarray:
    order = np.argsort(data.scenario, kind="stable")
    bounds = np.searchsorted(data.scenario[order], np.arange(len(data.n_items) + 1))
    out = np.zeros((len(data.n_items), data.width))
    for s in range(len(data.n_items)):
        n = int(data.n_items[s])
        rows = order[bounds[s] : bounds[s + 1]]
        top1 = [(int(data.winner[i]), tuple(x for x in range(n) if x != data.winner[i])) for i in rows]
        out[s, :n] = choix.ilsr_top1(n, top1, alpha=ALPHA)
    return out


def main() -> None:
    results: list[tuple[str, str]] = []

    # 1. a large round, end to end
    print("building a synthetic round of 10,000 members × 200 candidates …", flush=True)
    round_input = synthetic_round()
    analyse(synthetic_round(members=300))  # warm up imports and caches
    start = time.perf_counter()
    a = analyse(round_input)
    elapsed = time.perf_counter() - start
    print(
        f"  {len(round_input.events):,} reaction events, {a.members:,} members, groups k={a.groups.k} "
        f"(sizes {a.groups.sizes()}), {a.comparisons:,} comparisons, {len(a.consensus)} consensus candidates, "
        f"Community Notes model fitted: {a.bridging.ok} in {a.bridging.iterations} iterations"
    )
    start = time.perf_counter()
    polis_groups = polis_part(round_input, a.matrix)
    polis_only = time.perf_counter() - start
    print("timing red-dwarf's run_pipeline on the same votes …", flush=True)
    theirs_s, theirs_k = red_dwarf(a.matrix)
    print(f"  red-dwarf found {theirs_k} groups; ours {polis_groups.k}")
    results.append(("full analysis, 10,000 members × 200 candidates at 30%", f"{elapsed:.2f} s"))
    results.append(("Polis part alone (groups, group-aware consensus, consensus, repness)", f"{polis_only:.2f} s"))
    results.append(("red-dwarf run_pipeline on the same votes (reference, same run)", f"{theirs_s:.2f} s"))
    results.append(("full analysis / red-dwarf", f"{elapsed / theirs_s:.3f} x"))
    results.append(("Polis part / red-dwarf", f"{polis_only / theirs_s:.3f} x"))
    results.append(("target full analysis", "3.00 s"))
    results.append(("target full analysis / red-dwarf", "1.000 x"))

    # 2. Community Alignment scale choice models
    print("fitting 50,000 pick-one-of-4 scenarios (200,000 choices) …", flush=True)
    data = community_alignment()
    fit_top1(community_alignment(2_000, 500))  # warm up
    tracemalloc.start()
    start = time.perf_counter()
    ours = fit_top1(data)
    batched = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    start = time.perf_counter()
    theirs = choix_loop(data)
    looped = time.perf_counter() - start
    shift = ours - theirs
    worst = float(np.abs(shift - shift.mean(axis=1, keepdims=True)).max())
    results.append(("batched Plackett-Luce fit, 50,000 scenarios", f"{batched:.2f} s"))
    results.append(("choix ilsr_top1 scenario by scenario", f"{looped:.2f} s"))
    results.append(("speed-up over choix", f"{looped / batched:.1f} x"))
    results.append(("target speed-up", "10.0 x"))
    results.append(("largest score difference from choix (after shift)", f"{worst:.1e} nats"))
    results.append(("target score difference", "1.0e-06 nats"))
    results.append(("peak memory of the batched fit (tracemalloc)", f"{peak / 2**20:.0f} MiB"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    results.append(("peak resident memory of the whole run", f"{rss:.0f} MiB"))
    results.append((f"machine load average (1 min) at the end, on {os.cpu_count()} cores", f"{os.getloadavg()[0]:.1f}"))

    print()
    for what, value in results:
        print(f"{what}: {value}")


if __name__ == "__main__":
    main()
