"""Reminder posts before a deadline: what the channel is told (participation so far, what to do
next) and which members get a direct message (VOTE only: they reacted and have not voted, and did
not turn reminders off). The scheduler (bot/scheduler.py) decides when, and claims each reminder
once; this module says what."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, func, select

from bot.domain.commands import Actor
from bot.domain.model import Phase, quorum_needed
from bot.domain.outputs import Field, Post, Reply, time_token
from bot.rounds.deadlines import span_text
from bot.rounds.queries import participants, proposed_amendments, rule_of
from bot.services import Services
from storage.tables import AmendmentRow, BallotEventRow, CandidateRow, ReactionEventRow, ReminderOptOutRow, RoundRow

log = logging.getLogger("policybot.reminders")

PHASE_ENDING = {
    Phase.REVIEW: "the review ends",
    Phase.AMEND: "amendments close",
    Phase.VOTE: "the vote closes",
}


async def reminder_content(svc: Services, r: RoundRow, phase: Phase, ends: datetime, now: datetime) -> tuple[Post, list[str]]:
    """The channel post with participation so far, and who gets a direct message (VOTE only)."""
    assert r.id is not None
    left = span_text((ends - now).total_seconds())
    title = f"Round #{r.id}: {PHASE_ENDING[phase]} in {left}"
    when = f"{PHASE_ENDING[phase].capitalize()} {time_token(ends)}. "  # a time goes in the text, never the title
    fields: list[Field] = []
    recipients: list[str] = []
    async with svc.uow() as uow:
        s = uow.session
        reactors = set((await s.exec(select(ReactionEventRow.member).where(ReactionEventRow.round_id == r.id).distinct())).all())
        if phase == Phase.REVIEW:
            reacted = (
                await s.exec(
                    select(func.count(func.distinct(ReactionEventRow.candidate_id))).where(ReactionEventRow.round_id == r.id)
                )
            ).one()
            total = (
                await s.exec(
                    select(func.count())
                    .select_from(CandidateRow)
                    .where(CandidateRow.round_id == r.id, col(CandidateRow.amendment_id).is_(None))
                )
            ).one()
            text = (
                f"{len(reactors)} member(s) have reacted so far, to {reacted} of {total} candidate(s). "
                "React to each candidate (👍 endorse, 👎 object, 🤷 pass) and pick ⭐ the best of each scenario; "
                f"amendments open when the review ends (/amend … {r.id})."
            )
        elif phase == Phase.AMEND:
            amendments = await proposed_amendments(s, r.id)
            proposers = {a.proposed_by for a in amendments}
            text = (
                f"{len(amendments)} amendment(s) proposed so far by {len(proposers)} member(s). Propose a change to a "
                f"clause with /amend add|replace|remove {r.id} …; the vote opens when this phase ends. If no "
                "amendment is proposed by then, the round closes without a vote."
            )
        else:
            amendments = list(
                (
                    await s.exec(
                        select(AmendmentRow)
                        .where(AmendmentRow.round_id == r.id, AmendmentRow.status == "proposed")
                        .order_by(col(AmendmentRow.id))
                    )
                ).all()
            )
            voters = set((await s.exec(select(BallotEventRow.member).where(BallotEventRow.round_id == r.id).distinct())).all())
            people = await participants(s, r.id)
            quorum = quorum_needed(rule_of(r), people)
            text = (
                f"{len(voters)} of {people} members have voted; quorum is {quorum} "
                f"(ballots per amendment, abstentions count). Ballots stay secret until the vote closes "
                "and can be changed until then: /vote <amendment> yes|no|abstain."
            )
            for a in amendments[:25]:
                n = (
                    await s.exec(
                        select(func.count(func.distinct(BallotEventRow.member))).where(BallotEventRow.amendment_id == a.id)
                    )
                ).one()
                fields.append(Field(f"Amendment #{a.id}", f"{n} ballot(s) so far; quorum {quorum}", inline=True))
            opted_out = set(
                (await s.exec(select(ReminderOptOutRow.member).where(ReminderOptOutRow.community == r.community))).all()
            )
            recipients = sorted(reactors - voters - opted_out)
    return Post(r.channel, title, when + text, tuple(fields)), recipients


async def direct_messages(svc: Services, r: RoundRow, ends: datetime, now: datetime, members: Sequence[str]) -> int:
    left = span_text((ends - now).total_seconds())
    reply = Reply(
        f"Round #{r.id} in {r.channel}: the vote closes {time_token(ends)} (in {left}). You reacted to its "
        "candidates but have not voted yet. Send /reminders off to stop these messages."
    )
    sent = 0
    for member in members:
        try:
            await svc.chat.reply_privately(Actor(r.platform, r.community, member, member), reply)
            sent += 1
        except Exception:
            log.warning("could not send a reminder to %s in %s", member, r.community, exc_info=True)
    return sent
