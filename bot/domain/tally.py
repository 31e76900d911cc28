"""Counting ballots and applying adopted amendments: pure functions over plain values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.domain.model import AmendmentKind, BallotChoice, TallyCount, TallyRule, quorum_needed

ANCHOR_START = "^"  # an ADD amendment's clause_key when it inserts before the first clause


@dataclass(frozen=True, slots=True)
class BallotEvent:
    amendment_id: int
    member: str
    choice: BallotChoice
    seq: int  # order of arrival; the latest ballot of a member counts


@dataclass(frozen=True, slots=True)
class AmendmentSpec:
    id: int
    kind: AmendmentKind
    clause_key: str | None  # target; for ADD the anchor (insert after), ANCHOR_START, or None = end
    text: str


@dataclass(frozen=True, slots=True)
class AmendmentResult:
    amendment_id: int
    count: TallyCount
    quorum: int
    passed: bool
    adopted: bool
    reason: str
    groups: dict[str, TallyCount] = field(default_factory=dict)


def latest_ballots(events: Iterable[BallotEvent]) -> dict[int, dict[str, BallotChoice]]:
    """amendment id → member → that member's latest choice."""
    latest: dict[int, dict[str, tuple[int, BallotChoice]]] = {}
    for e in events:
        per = latest.setdefault(e.amendment_id, {})
        prev = per.get(e.member)
        if prev is None or e.seq > prev[0]:
            per[e.member] = (e.seq, e.choice)
    return {a: {m: c for m, (_, c) in per.items()} for a, per in latest.items()}


def count(choices: Mapping[str, BallotChoice]) -> TallyCount:
    values = list(choices.values())
    return TallyCount(
        yes=values.count(BallotChoice.YES), no=values.count(BallotChoice.NO), abstain=values.count(BallotChoice.ABSTAIN)
    )


def _decide(c: TallyCount, rule: TallyRule, needed: int) -> tuple[bool, str]:
    """Whether an amendment's ballots pass on their own: quorum, then threshold."""
    if c.voters < needed:
        return False, f"no quorum: {c.voters} of {needed} ballots needed"
    if not c.meets(rule):
        return False, f"threshold not met: {c.yes_share:.0%} yes of yes+no ({rule.describe()})"
    return True, f"passed with {c.yes_share:.0%} yes of yes+no"


def _by_group(
    choices: Mapping[str, BallotChoice], rule: TallyRule, member_groups: Mapping[str, int]
) -> tuple[dict[str, TallyCount], list[str]]:
    """Each opinion group's count, and the groups large enough to count where the threshold fails."""
    by_group: dict[int, dict[str, BallotChoice]] = {}
    for member, choice in choices.items():
        g = member_groups.get(member)
        if g is not None:
            by_group.setdefault(g, {})[member] = choice
    groups: dict[str, TallyCount] = {}
    failing: list[str] = []
    for g, group_choices in sorted(by_group.items()):
        gc = count(group_choices)
        groups[f"group {g}"] = gc
        if gc.voters >= rule.bridging_min_voters and not gc.meets(rule):
            failing.append(f"group {g} ({gc.yes_share:.0%} yes)")
    return groups, failing


def _competes(a: AmendmentSpec) -> bool:
    """REPLACE and REMOVE amendments of one clause compete; ADDs never do."""
    return a.kind != AmendmentKind.ADD and a.clause_key is not None


def _resolve(r: AmendmentResult, winner: AmendmentResult, rivals: list[AmendmentResult]) -> AmendmentResult:
    """A passing competing amendment, once the winner for its clause is known."""
    if winner.amendment_id != r.amendment_id:
        tie = winner.count.yes_share == r.count.yes_share
        why = "tie on yes share; the earlier amendment wins" if tie else "a competing amendment had a higher yes share"
        reason = f"passed but not adopted: #{winner.amendment_id} wins for this clause ({why})"
        return AmendmentResult(r.amendment_id, r.count, r.quorum, True, False, reason, r.groups)
    if not rivals:
        return r
    beaten = ", #".join(str(x.amendment_id) for x in rivals)
    return AmendmentResult(
        r.amendment_id, r.count, r.quorum, True, True, r.reason + f"; adopted over competing #{beaten}", r.groups
    )


def tally(
    amendments: list[AmendmentSpec],
    events: Iterable[BallotEvent],
    rule: TallyRule,
    participants: int,
    member_groups: Mapping[str, int] | None = None,
) -> list[AmendmentResult]:
    """Decide every amendment. Competing REPLACE/REMOVE amendments of one clause: the passing one
    with the highest yes share wins, ties to the earlier (lower id). ADDs never compete."""
    ballots = latest_ballots(events)
    needed = quorum_needed(rule, participants)
    provisional: list[AmendmentResult] = []
    for a in sorted(amendments, key=lambda x: x.id):
        choices = ballots.get(a.id, {})
        c = count(choices)
        passed, reason = _decide(c, rule, needed)
        groups: dict[str, TallyCount] = {}
        if rule.bridging_min_voters and member_groups is not None:
            groups, failing = _by_group(choices, rule, member_groups)
            if passed and failing:
                passed, reason = False, "not bridging: threshold not met in " + ", ".join(failing)
        provisional.append(AmendmentResult(a.id, c, needed, passed, passed, reason, groups))

    # Competition between passing amendments that target the same clause.
    spec = {a.id: a for a in amendments}
    competing = [r for r in provisional if r.passed and _competes(spec[r.amendment_id])]
    winners: dict[str | None, AmendmentResult] = {}
    for r in competing:
        key = spec[r.amendment_id].clause_key
        best = winners.get(key)
        if best is None or r.count.yes_share > best.count.yes_share:
            winners[key] = r
    competing_ids = {r.amendment_id for r in competing}
    results: list[AmendmentResult] = []
    for r in provisional:
        key = spec[r.amendment_id].clause_key
        if r.amendment_id in competing_ids:
            rivals = [x for x in competing if spec[x.amendment_id].clause_key == key and x.amendment_id != r.amendment_id]
            r = _resolve(r, winners[key], rivals)
        results.append(r)
    return results


@dataclass(frozen=True, slots=True)
class ClauseValue:
    key: str
    text: str


def apply_amendments(clauses: list[ClauseValue], adopted: list[AmendmentSpec], new_key: Iterable[str]) -> list[ClauseValue]:
    """The next version's clauses. Replacements keep the clause key; additions get fresh keys from
    new_key, placed after their anchor in id order (even if the anchor itself was removed)."""
    keys = iter(new_key)
    replace = {a.clause_key: a.text for a in adopted if a.kind == AmendmentKind.REPLACE}
    remove = {a.clause_key for a in adopted if a.kind == AmendmentKind.REMOVE}
    adds: dict[str | None, list[AmendmentSpec]] = {}
    for a in sorted((a for a in adopted if a.kind == AmendmentKind.ADD), key=lambda x: x.id):
        adds.setdefault(a.clause_key, []).append(a)
    out = [ClauseValue(next(keys), a.text) for a in adds.get(ANCHOR_START, [])]
    for c in clauses:
        if c.key not in remove:
            out.append(ClauseValue(c.key, replace.get(c.key, c.text)))
        out += [ClauseValue(next(keys), a.text) for a in adds.get(c.key, [])]
    known = {c.key for c in clauses} | {ANCHOR_START}
    out += [ClauseValue(next(keys), a.text) for anchor, items in adds.items() if anchor not in known for a in items]
    return out
