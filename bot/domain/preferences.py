"""Current stances and best picks, derived from the raw reaction events (which are never changed).

A member has one current stance per candidate: the most recent stance they added and have not
removed (on emoji platforms both 👍 and 👎 can be on a message at once; the later one counts, and
removing it brings back the earlier). "Best of this scenario" is separate: one per member per
scenario, the latest best still in place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.domain.model import Stance


@dataclass(frozen=True, slots=True)
class ReactionEvent:
    seq: int
    member: str
    candidate_id: int
    stance: Stance
    removed: bool
    reason: str = ""


def stance_events(events: Iterable[ReactionEvent]) -> dict[tuple[str, int], ReactionEvent]:
    """(member, candidate) → the event that set the current endorse / object / pass: its reason is
    the reason of the current stance (a reason belongs to the reaction it came with)."""
    active: dict[tuple[str, int], dict[Stance, ReactionEvent]] = {}
    for e in sorted(events, key=lambda x: x.seq):
        if e.stance == Stance.BEST:
            continue
        per = active.setdefault((e.member, e.candidate_id), {})
        if e.removed:
            per.pop(e.stance, None)
        else:
            per[e.stance] = e
    return {k: max(v.values(), key=lambda x: x.seq) for k, v in active.items() if v}


def current_stances(events: Iterable[ReactionEvent]) -> dict[tuple[str, int], Stance]:
    """(member, candidate) → current endorse / object / pass."""
    return {k: e.stance for k, e in stance_events(events).items()}


def best_events(events: Iterable[ReactionEvent], scenario_of: Mapping[int, int]) -> dict[tuple[str, int], ReactionEvent]:
    """(member, scenario) → the event that picked the current best (its reason is the best pick's)."""
    active: dict[tuple[str, int], dict[int, ReactionEvent]] = {}
    for e in sorted(events, key=lambda x: x.seq):
        if e.stance != Stance.BEST or e.candidate_id not in scenario_of:
            continue
        per = active.setdefault((e.member, scenario_of[e.candidate_id]), {})
        if e.removed:
            per.pop(e.candidate_id, None)
        else:
            per[e.candidate_id] = e
    return {k: max(v.values(), key=lambda x: x.seq) for k, v in active.items() if v}


def best_picks(events: Iterable[ReactionEvent], scenario_of: Mapping[int, int]) -> dict[tuple[str, int], int]:
    """(member, scenario) → candidate picked as best."""
    return {k: e.candidate_id for k, e in best_events(events, scenario_of).items()}


def stance_counts(stances: Mapping[tuple[str, int], Stance]) -> dict[int, dict[Stance, int]]:
    out: dict[int, dict[Stance, int]] = {}
    for (_member, cand), s in stances.items():
        per = out.setdefault(cand, {Stance.ENDORSE: 0, Stance.OBJECT: 0, Stance.PASS: 0})
        per[s] += 1
    return out
