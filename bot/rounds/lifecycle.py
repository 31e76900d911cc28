"""Phase transitions. Each is a compare-and-set on round.phase, so a transition that fires twice,
late, or from two processes at once happens exactly once. Closing the vote tallies the ballots and
publishes the new policy version in the same transaction as the phase change."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analysis.loading import mark_review_end
from bot.domain.commands import Actor
from bot.domain.model import ANONYMOUS_MEMBER, NEXT_PHASE, AmendmentKind, AmendmentStatus, BallotChoice, Phase
from bot.domain.outputs import Post, time_token
from bot.domain.tally import AmendmentSpec, BallotEvent, ClauseValue, apply_amendments, tally
from bot.generation.drafting import draft_amendments
from bot.generation.precedent_checks import ballot_line, check_amendments, on_close
from bot.generation.preview import preview_round
from bot.privacy.naming import shown_names
from bot.rounds.deadlines import planned_end
from bot.rounds.outbox import Delivery, Outgoing, deliver_round, enqueue_all, enqueue_results
from bot.rounds.posts import ballot_post, results_post, tally_line
from bot.rounds.queries import clauses_of, participants, policy_of_version, proposed_amendments, rule_of
from bot.services import Services
from storage.tables import (
    AmendmentRow,
    BallotEventRow,
    ClauseRow,
    PolicyRow,
    PolicyVersionRow,
    RoundRow,
    TallyRow,
)


@dataclass(frozen=True, slots=True)
class TransitionResult:
    changed: bool
    round_id: int
    from_phase: Phase
    to_phase: Phase
    message: str = ""
    delivery: Delivery = field(default_factory=Delivery)


async def _cas(
    s: AsyncSession, r: RoundRow, from_phase: Phase, to_phase: Phase, now: datetime, due_by: datetime | None = None
) -> bool:
    ends = await planned_end(s, r, to_phase, now)  # scheduling: an explicit end time wins
    values: dict[str, object] = {
        "phase": to_phase.value,
        "phase_changed_at": now,
        "phase_ends_at": ends,
        "paused_remaining_seconds": None,
    }
    if to_phase in (Phase.CLOSED, Phase.CANCELLED):
        values["closed_at"] = now
    stmt = update(RoundRow).where(col(RoundRow.id) == r.id, col(RoundRow.phase) == from_phase.value)
    if due_by is not None:  # scheduling: a deadline wake-up acts only if the deadline has still passed
        stmt = stmt.where(col(RoundRow.phase_ends_at) <= due_by, col(RoundRow.paused_remaining_seconds).is_(None))
        stmt = stmt.execution_options(synchronize_session=False)  # r is refreshed below; SQLite's times are naive
    result = await s.exec(stmt.values(**values))
    return result.rowcount == 1


async def transition(
    svc: Services, round_id: int, from_phase: Phase, *, reason: str = "", due_by: datetime | None = None
) -> TransitionResult:
    """Move a round from `from_phase` to the next phase, if it is still there. What the transition
    posts is written to the outbox in the same transaction (the caller delivers it after the commit)."""
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        r = await s.get(RoundRow, round_id)
        if r is None or r.phase != from_phase.value or from_phase not in NEXT_PHASE:
            return TransitionResult(False, round_id, from_phase, NEXT_PHASE.get(from_phase, from_phase))
        to_phase = NEXT_PHASE[from_phase]
        amendments = await proposed_amendments(s, round_id) if from_phase in (Phase.AMEND, Phase.VOTE) else []
        if from_phase == Phase.AMEND and not amendments:
            to_phase = Phase.CLOSED  # nothing to vote on: close early
        if not await _cas(s, r, from_phase, to_phase, now, due_by):
            return TransitionResult(False, round_id, from_phase, to_phase)
        await s.refresh(r)
        why = f" ({reason})" if reason else ""
        posts = await _transition_posts(s, svc, r, from_phase, to_phase, amendments, now, why)
        await enqueue_all(
            s, [Outgoing(f"round:{round_id}:{key}", post) for key, post in posts[1]], community=r.community, round_id=round_id
        )
        if from_phase == Phase.REVIEW:
            await mark_review_end(s, round_id, now)  # analysis: the reactions of REVIEW end here
        if from_phase == Phase.REVIEW or to_phase == Phase.CLOSED:
            await enqueue_results(s, round_id, r.community, from_phase, to_phase)  # analysis: results posts
        await uow.commit()
    return TransitionResult(True, round_id, from_phase, to_phase, posts[0])


async def _transition_posts(
    s: AsyncSession,
    svc: Services,
    r: RoundRow,
    from_phase: Phase,
    to_phase: Phase,
    amendments: list[AmendmentRow],
    now: datetime,
    why: str,
) -> tuple[str, list[tuple[str, Post]]]:
    """The message for the moderator, and the (key, post) pairs the transition publishes."""
    policy, version = await policy_of_version(s, r.policy_version_id)
    if to_phase == Phase.AMEND:
        post = Post(
            r.channel,
            f"Round #{r.id}: amendments are open",
            f"Open until {time_token(r.phase_ends_at or now)}. Propose a change to a clause of "
            f"{policy.name} v{version.version}: /amend add|replace|remove {r.id} … -- rationale. "
            "Reactions to candidates are still recorded.",
        )
        return f"Round #{r.id} moved to AMEND{why}.", [("amend", post)]
    if to_phase == Phase.VOTE:
        clause_number = {c.key: c.number for c in await clauses_of(s, r.policy_version_id)}
        opening = Post(
            r.channel,
            f"Round #{r.id}: the vote is open",
            f"Open until {time_token(r.phase_ends_at or now)}. "
            f"{len(amendments)} amendment(s) to {policy.name} v{version.version}. Ballots are secret "
            f"until the vote closes and can be changed until then. Rule: {rule_of(r).describe()}.",
        )
        line = await ballot_line(s, svc, policy.id or 0)  # precedents: the checks edit it in when done
        names = await shown_names(s, r.community, [a.proposed_by for a in amendments])
        ballots = [
            (f"ballot:{a.id}", ballot_post(r, a, clause_number, names.get(a.proposed_by, ANONYMOUS_MEMBER), precedents=line))
            for a in amendments
        ]
        return f"Round #{r.id} moved to VOTE{why}: {len(amendments)} amendment(s) on the ballot.", [("vote", opening), *ballots]
    if from_phase == Phase.AMEND:
        message = (
            f"Round #{r.id} closed{why}: no amendment was proposed, so there is nothing to vote on; "
            f"{policy.name} stays at v{version.version}."
        )
        return message, [("closed", Post(r.channel, f"Round #{r.id} closed", message))]
    message, post = await _close_vote(s, r, policy, version, amendments, now, svc)
    return message, [("results", post)]


async def advance(
    svc: Services,
    round_id: int,
    from_phase: Phase,
    *,
    reason: str = "",
    due_by: datetime | None = None,
    answered: Actor | None = None,
) -> TransitionResult:
    """due_by (the scheduler's wake-up): move on only if the phase's deadline is at or before it and
    the phase is not paused, so a wake-up that went stale (deadline extended, paused) changes nothing.
    `answered`: the moderator whose command this is (told of a failed post in the reply)."""
    result = await transition(svc, round_id, from_phase, reason=reason, due_by=due_by)
    if result.changed:
        svc.schedule_changed(round_id)  # scheduling: arm the new phase's deadline
        delivery = await deliver_round(svc, round_id, answered=answered)
        result = dataclasses.replace(result, delivery=delivery)
        after_transition(svc, round_id, result.from_phase, result.to_phase)  # generation: drafts, previews
    return result


async def _close_vote(
    s: AsyncSession,
    r: RoundRow,
    policy: PolicyRow,
    version: PolicyVersionRow,
    amendments: list[AmendmentRow],
    now: datetime,
    svc: Services,
) -> tuple[str, Post]:
    assert r.id is not None and version.id is not None and policy.id is not None
    rows = (await s.exec(select(BallotEventRow).where(BallotEventRow.round_id == r.id).order_by(col(BallotEventRow.id)))).all()
    events = [BallotEvent(b.amendment_id, b.member, BallotChoice(b.choice), b.id or 0) for b in rows]
    specs = [AmendmentSpec(a.id or 0, AmendmentKind(a.kind), a.clause_key, a.text) for a in amendments]
    rule = rule_of(r)
    groups = None
    if rule.bridging_min_voters and svc.opinion_groups is not None:
        groups = await svc.opinion_groups(s, r.id)
    results = tally(specs, events, rule, await participants(s, r.id), groups)
    by_id = {a.id: a for a in amendments}
    clauses = await clauses_of(s, version.id)
    clause_number = {c.key: c.number for c in clauses}
    adopted = [x for x in specs if any(res.amendment_id == x.id and res.adopted for res in results)]
    lines: list[str] = []
    for res in results:
        a = by_id[res.amendment_id]
        a.status = (AmendmentStatus.ADOPTED if res.adopted else AmendmentStatus.REJECTED).value
        s.add(a)
        s.add(
            TallyRow(
                round_id=r.id,
                amendment_id=res.amendment_id,
                yes=res.count.yes,
                no=res.count.no,
                abstain=res.count.abstain,
                passed=res.passed,
                adopted=res.adopted,
                reason=res.reason,
                detail_json=json.dumps(
                    {"quorum": res.quorum, "groups": {g: [c.yes, c.no, c.abstain] for g, c in res.groups.items()}}
                ),
            )
        )
        by_group = {g: (c.yes, c.no, c.abstain) for g, c in res.groups.items()}
        counts = (res.count.yes, res.count.no, res.count.abstain)
        lines.append(tally_line(a, clause_number, counts, res.adopted, res.reason, by_group, bool(rule.bridging_min_voters)))
    if adopted:
        fresh = iter(range(policy.next_clause_number, policy.next_clause_number + len(adopted)))
        new_clauses = apply_amendments([ClauseValue(c.key, c.text) for c in clauses], adopted, (f"c{n}" for n in fresh))
        policy.next_clause_number += sum(1 for a in adopted if a.kind == AmendmentKind.ADD)
        changelog = f"Round #{r.id}: " + " ".join(lines)
        new_version = PolicyVersionRow(
            policy_id=policy.id,
            version=version.version + 1,
            created_by="policybot",
            created_at=now,
            changelog=changelog,
            source_round_id=r.id,
        )
        s.add(new_version)
        s.add(policy)
        await s.flush()
        assert new_version.id is not None
        for i, c in enumerate(new_clauses, 1):
            s.add(ClauseRow(policy_version_id=new_version.id, position=i, clause_key=c.key, text=c.text))
        await s.exec(update(RoundRow).where(RoundRow.id == r.id).values(result_version_id=new_version.id))  # type: ignore[arg-type]
        headline = f"{policy.name} v{new_version.version} is published with {len(adopted)} adopted amendment(s)."
    else:
        headline = f"No amendment was adopted; {policy.name} stays at v{version.version}."
    message = f"Round #{r.id} closed. {headline}"
    return message, results_post(r, headline, [(res.amendment_id, line) for res, line in zip(results, lines, strict=True)])


def after_transition(svc: Services, round_id: int, from_phase: Phase, to_phase: Phase) -> None:
    """Start the LLM work a transition calls for, in the background, after its commit."""
    if from_phase == Phase.REVIEW and to_phase == Phase.AMEND and svc.options.max_drafts > 0:
        svc.spawn(draft_amendments(svc, round_id), name=f"draft-round-{round_id}")
    if to_phase == Phase.VOTE and svc.options.preview:
        svc.spawn(preview_round(svc, round_id), name=f"preview-round-{round_id}")
    if to_phase == Phase.VOTE and svc.options.precedent_checks > 0:  # precedents: each amendment against them
        svc.spawn(check_amendments(svc, round_id), name=f"precedent-checks-round-{round_id}")
    if to_phase == Phase.CLOSED:  # precedents: the round's verdicts recorded, the published version checked
        svc.spawn(on_close(svc, round_id), name=f"precedents-round-{round_id}")
