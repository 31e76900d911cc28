"""Members' judgements, streamed: one member at a time, in pseudonym order, in constant memory.

Members are read in chunks (a fixed number of members per query), so memory holds one chunk's raw
events at most, whatever the size of the community. Inside a chunk, members are handed out in the
order of their pseudonymous ids, so no file's row order reveals the order of platform ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import null, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import Stance, aware
from bot.domain.preferences import ReactionEvent, best_events, stance_events
from bot.export.context import Context, scope_members
from bot.export.pseudonym import Pseudonyms
from storage.tables import ReactionEventRow

CHUNK_MEMBERS = 250
YIELD_ROWS = 5000
_STANCES = {s.value: s for s in Stance}


@dataclass(slots=True)
class MemberData:
    member: str
    annotator: str
    participant: int  # 1-based id for the Polis bundle (0 is the model), by pseudonym order
    stances: dict[int, Stance]  # candidate → current endorse / object / pass
    best: dict[int, int]  # group → candidate picked as best
    stance_reason: dict[int, str]  # candidate → the reason given with the current stance (if any)
    best_reason: dict[int, str]  # group → the reason given with the best pick (if any)
    stance_at: dict[int, datetime]  # candidate → when the current stance was set
    events: int
    withheld_events: int = 0  # events on candidates left out of exports (their author's choice or erasure)

    def pairs(self, ctx: Context) -> list[tuple[int, int, int, str]]:
        """(group, chosen, rejected, basis): the best pick over every other candidate of its group,
        then endorsed over objected within a group, unless the best pick already says the reverse."""
        out: list[tuple[int, int, int, str]] = []
        seen: set[tuple[int, int]] = set()
        for g, chosen in sorted(self.best.items()):
            for other in ctx.groups[g].candidate_ids:
                if other != chosen:
                    out.append((g, chosen, other, "best"))
                    seen.add((chosen, other))
        by_group: dict[int, tuple[list[int], list[int]]] = {}
        for cand, stance in sorted(self.stances.items()):
            if stance in (Stance.ENDORSE, Stance.OBJECT):
                ends, objs = by_group.setdefault(ctx.candidates[cand].group, ([], []))
                (ends if stance == Stance.ENDORSE else objs).append(cand)
        for g, (ends, objs) in sorted(by_group.items()):
            for e in ends:
                for o in objs:
                    if (e, o) not in seen and (o, e) not in seen:
                        out.append((g, e, o, "stance"))
        return out

    def singles(self) -> list[tuple[int, bool]]:
        """(candidate, label) for KTO: endorse is true, object is false; pass carries no label."""
        return [(c, s == Stance.ENDORSE) for c, s in sorted(self.stances.items()) if s in (Stance.ENDORSE, Stance.OBJECT)]

    def groups_touched(self, ctx: Context) -> list[int]:
        return sorted({ctx.candidates[c].group for c in self.stances} | set(self.best))


@dataclass
class MemberPlan:
    order: list[str]  # included members, by pseudonym
    participant: dict[str, int]  # included members → Polis participant id (1…, in pseudonym order)
    members_seen: int
    excluded_members: dict[str, int] = field(default_factory=dict)  # reason → members
    excluded_events: dict[str, int] = field(default_factory=dict)  # reason → reaction events


async def plan_members(s: AsyncSession, ctx: Context, pseudonyms: Pseudonyms) -> MemberPlan:
    counts = await scope_members(s, ctx)
    plan = MemberPlan([], {}, len(counts))
    included: list[str] = []
    for member, n in counts.items():
        why = ctx.privacy.excluded(member)
        if why is None:
            included.append(member)
        else:
            plan.excluded_members[why] = plan.excluded_members.get(why, 0) + 1
            plan.excluded_events[why] = plan.excluded_events.get(why, 0) + n
    # Authors of member-written responses are not given participant ids for what they wrote: no
    # export links a written response to its author's annotator id (see the Polis bundle).
    plan.order = sorted(included, key=pseudonyms)
    plan.participant = {m: i + 1 for i, m in enumerate(plan.order)}
    return plan


def derive(
    member: str, annotator: str, participant: int, events: list[tuple[ReactionEvent, datetime | None]], ctx: Context
) -> MemberData:
    """A member's current stances and best picks, each with the reason of the event that set it: a
    reason given with an endorse never follows a later object, and a removed reaction's reason is gone."""
    group_of = {c: ctx.candidates[c].group for e, _ in events if (c := e.candidate_id) in ctx.candidates}
    kept = [e for e, _ in events if e.candidate_id in group_of]
    at = {e.seq: moment for e, moment in events if moment is not None}
    stances = {c: e for (_m, c), e in stance_events(kept).items()}
    best = {g: e for (_m, g), e in best_events(kept, group_of).items()}
    return MemberData(
        member=member,
        annotator=annotator,
        participant=participant,
        stances={c: e.stance for c, e in stances.items()},
        best={g: e.candidate_id for g, e in best.items()},
        stance_reason={c: e.reason.strip() for c, e in stances.items() if e.reason.strip()},
        best_reason={g: e.reason.strip() for g, e in best.items() if e.reason.strip()},
        stance_at={c: at[e.seq] for c, e in stances.items() if e.seq in at},
        events=len(events),
        withheld_events=len(events) - len(kept),
    )


async def stream_members(
    s: AsyncSession, ctx: Context, plan: MemberPlan, pseudonyms: Pseudonyms, *, times: bool = True
) -> AsyncIterator[MemberData]:
    """Every included member's judgements, one at a time, in pseudonym order (with `times`, also when
    each current stance was set; reading the timestamps costs a third of the time, so formats that
    do not show them skip it)."""
    R = ReactionEventRow
    for start in range(0, len(plan.order), CHUNK_MEMBERS):
        part = plan.order[start : start + CHUNK_MEMBERS]
        stmt = (
            select(
                col(R.id),
                col(R.member),
                col(R.candidate_id),
                col(R.stance),
                col(R.action),
                col(R.reason),
                col(R.at) if times else null(),
            )
            .where(col(R.community) == ctx.scope.community, col(R.round_id).in_(ctx.round_ids), col(R.member).in_(part))
            .order_by(col(R.member), col(R.id))
            .execution_options(yield_per=YIELD_ROWS)
        )
        by_member: dict[str, list[tuple[ReactionEvent, datetime | None]]] = {}
        result = await (await s.connection()).stream(stmt)
        async for rows in result.partitions():  # one switch to the database driver per partition, not per row
            for seq, member, cand, stance, action, reason, at in rows:
                st = _STANCES.get(stance)
                if st is None:
                    continue
                event = ReactionEvent(seq or 0, member, cand, st, action == "remove", reason)
                by_member.setdefault(member, []).append((event, aware(at) if at is not None else None))
        for member in part:
            yield derive(member, pseudonyms(member), plan.participant[member], by_member.pop(member, []), ctx)
