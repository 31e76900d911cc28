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


def current_stances(events: Iterable[ReactionEvent]) -> dict[tuple[str, int], Stance]:
    """(member, candidate) → current endorse / object / pass."""
    active: dict[tuple[str, int], dict[Stance, int]] = {}
    for e in sorted(events, key=lambda x: x.seq):
        if e.stance == Stance.BEST:
            continue
        per = active.setdefault((e.member, e.candidate_id), {})
        if e.removed:
            per.pop(e.stance, None)
        else:
            per[e.stance] = e.seq
    return {k: max(v.items(), key=lambda kv: kv[1])[0] for k, v in active.items() if v}


def best_picks(events: Iterable[ReactionEvent], scenario_of: Mapping[int, int]) -> dict[tuple[str, int], int]:
    """(member, scenario) → candidate picked as best."""
    active: dict[tuple[str, int], dict[int, int]] = {}
    for e in sorted(events, key=lambda x: x.seq):
        if e.stance != Stance.BEST or e.candidate_id not in scenario_of:
            continue
        per = active.setdefault((e.member, scenario_of[e.candidate_id]), {})
        if e.removed:
            per.pop(e.candidate_id, None)
        else:
            per[e.candidate_id] = e.seq
    return {k: max(v.items(), key=lambda kv: kv[1])[0] for k, v in active.items() if v}


def stance_counts(stances: Mapping[tuple[str, int], Stance]) -> dict[int, dict[Stance, int]]:
    out: dict[int, dict[Stance, int]] = {}
    for (_member, cand), s in stances.items():
        per = out.setdefault(cand, {Stance.ENDORSE: 0, Stance.OBJECT: 0, Stance.PASS: 0})
        per[s] += 1
    return out
