"""Moderators move the current phase's deadline: extend, shorten, set an end time, pause, resume.
Each change is a compare-and-set on the round row, re-arms the scheduler and is announced in the
round's channel. Members turn direct-message reminders off or on for themselves."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.domain.commands import Actor, ExtendPhase, PausePhase, ResumePhase, SetPhaseEnd, SetReminderMessages, ShortenPhase
from bot.domain.model import ANONYMOUS_MODERATOR, Phase, aware
from bot.domain.outputs import Outcome, Post, Reply, time_token
from bot.errors import CommandError
from bot.rounds.deadlines import MAX_PHASE, parse_moment, parse_span, span_text
from bot.rounds.outbox import clear_delivery_note, deliver, enqueue, undelivered
from bot.rounds.queries import get_round, require_moderator, require_phase
from bot.services import Services
from storage.tables import ReminderOptOutRow, RoundRow

OPEN = (Phase.REVIEW, Phase.AMEND, Phase.VOTE)


async def _open_round(svc: Services, actor: Actor, round_id: int, doing: str) -> RoundRow:
    async with svc.uow() as uow:
        r = await get_round(uow.session, actor.community, round_id)
    require_phase(r, OPEN, doing)
    return r


async def _set_deadline(svc: Services, r: RoundRow, *, ends: datetime | None, paused: int | None, post: Post) -> None:
    """Compare-and-set: only if the round is still in the same phase with the same deadline; the
    announcement `post` is written to the outbox in the same transaction."""
    async with svc.uow() as uow:
        stmt = update(RoundRow).where(col(RoundRow.id) == r.id, col(RoundRow.phase) == r.phase)
        if r.paused_remaining_seconds is None:
            stmt = stmt.where(col(RoundRow.phase_ends_at) == r.phase_ends_at, col(RoundRow.paused_remaining_seconds).is_(None))
        else:
            stmt = stmt.where(col(RoundRow.paused_remaining_seconds) == r.paused_remaining_seconds)
        done = await uow.session.exec(stmt.values(phase_ends_at=ends, paused_remaining_seconds=paused))
        if done.rowcount != 1:
            raise CommandError(
                f"Round #{r.id} changed meanwhile (it moved on, or another moderator changed it); nothing was changed."
            )
        key = f"round:{r.id}:schedule:{uuid.uuid4().hex}"
        await enqueue(uow.session, key, post, community=r.community, round_id=r.id)
        await uow.commit()
    assert r.id is not None
    svc.schedule_changed(r.id)


def _running_deadline(r: RoundRow, now: datetime, doing: str) -> datetime:
    ends = aware(r.phase_ends_at)
    if ends is None:
        raise CommandError(f"Round #{r.id} has no deadline to {doing}.")
    if ends <= now:
        raise CommandError(f"Round #{r.id}'s {r.phase.upper()} deadline has passed; the round is moving on now.")
    return ends


def _announce(r: RoundRow, title: str, text: str) -> Post:
    """A schedule change's post: the new time is in its text (a title never carries a time)."""
    return Post(r.channel, f"Round #{r.id}: {title}", text)


async def _move(svc: Services, actor: Actor, round_id: int, delta: timedelta, verb: str) -> Outcome:
    r = await _open_round(svc, actor, round_id, f"{verb} its deadline")
    phase = r.phase.upper()
    now = svc.now()
    sign = 1 if verb == "extend" else -1
    if r.paused_remaining_seconds is not None:
        remaining = r.paused_remaining_seconds + sign * int(delta.total_seconds())
        if remaining <= 0:
            raise CommandError(
                f"{phase} of round #{r.id} is paused with {span_text(r.paused_remaining_seconds)} left; shortening it by "
                f"{span_text(delta.total_seconds())} leaves nothing. To end it now use /round advance {r.id}."
            )
        if remaining > MAX_PHASE.total_seconds():
            raise CommandError(f"That would leave {phase} more than 60d; the longest a phase can last is 60d.")
        was = span_text(r.paused_remaining_seconds)
        text = f"{phase} is paused; it will have {span_text(remaining)} left when resumed (was {was})."
        ends_at, paused = None, remaining
    else:
        ends = _running_deadline(r, now, verb)
        new = ends + sign * delta
        if new <= now:
            raise CommandError(
                f"{phase} of round #{r.id} ends {time_token(ends)}; shortening it by {span_text(delta.total_seconds())} "
                f"would put its end in the past. To end it now use /round advance {r.id}."
            )
        if new - now > MAX_PHASE:
            raise CommandError(f"That would end {phase} more than 60d from now; the longest a phase can last is 60d.")
        text = f"{phase} now ends {time_token(new)} (was {time_token(ends)})."
        ends_at, paused = new, None
    done = "extended" if verb == "extend" else "shortened"
    post = _announce(r, f"{phase} {done} by {span_text(delta.total_seconds())}", f"{text} Changed by {ANONYMOUS_MODERATOR}.")
    await _set_deadline(svc, r, ends=ends_at, paused=paused, post=post)
    return Outcome(Reply(f"Round #{r.id}: {text}"))


async def extend_phase(cmd: ExtendPhase, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "extend a phase")
    delta = parse_span(cmd.by, "extension", minimum_seconds=min(60, svc.options.min_phase_seconds))
    return await _move(svc, cmd.actor, cmd.round_id, delta, "extend")


async def shorten_phase(cmd: ShortenPhase, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "shorten a phase")
    delta = parse_span(cmd.by, "shortening", minimum_seconds=min(60, svc.options.min_phase_seconds))
    return await _move(svc, cmd.actor, cmd.round_id, delta, "shorten")


async def set_phase_end(cmd: SetPhaseEnd, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "set a phase's end")
    new = parse_moment(cmd.ends, "end time")
    r = await _open_round(svc, cmd.actor, cmd.round_id, "set its end")
    phase = r.phase.upper()
    now = svc.now()
    if r.paused_remaining_seconds is not None:
        raise CommandError(
            f"{phase} of round #{r.id} is paused: resume it first (/round resume {r.id}), or extend or shorten it."
        )
    ends = _running_deadline(r, now, "set")
    if new <= now:
        raise CommandError(f"{cmd.ends[:60]} is in the past (now is {time_token(now)}); give a future time.")
    if new - now > MAX_PHASE:
        raise CommandError(f"{cmd.ends[:60]} is more than 60d from now; the longest a phase can last is 60d.")
    text = f"{phase} now ends {time_token(new)} (was {time_token(ends)})."
    post = _announce(r, f"{phase} has a new end", f"{text} Changed by {ANONYMOUS_MODERATOR}.")
    await _set_deadline(svc, r, ends=new, paused=None, post=post)
    return Outcome(Reply(f"Round #{r.id}: {text}"))


async def pause_phase(cmd: PausePhase, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "pause a phase")
    r = await _open_round(svc, cmd.actor, cmd.round_id, "pause it")
    phase = r.phase.upper()
    if r.paused_remaining_seconds is not None:
        raise CommandError(f"{phase} of round #{r.id} is already paused; resume it with /round resume {r.id}.")
    now = svc.now()
    ends = _running_deadline(r, now, "pause")
    remaining = math.ceil((ends - now).total_seconds())
    text = (
        f"{phase} is paused with {span_text(remaining)} left; members can still take part, and no deadline passes "
        f"until a moderator resumes it (/round resume {r.id})."
    )
    post = _announce(r, f"{phase} paused", f"{text} Paused by {ANONYMOUS_MODERATOR}.")
    await _set_deadline(svc, r, ends=None, paused=remaining, post=post)
    return Outcome(Reply(f"Round #{r.id}: {text}"))


async def resume_phase(cmd: ResumePhase, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "resume a phase")
    r = await _open_round(svc, cmd.actor, cmd.round_id, "resume it")
    phase = r.phase.upper()
    if r.paused_remaining_seconds is None:
        raise CommandError(f"{phase} of round #{r.id} is not paused.")
    assert r.id is not None
    posted = ""
    if await undelivered(svc, r.id):  # the posts a refusal or a stop left behind go out first
        delivery = await deliver(svc, round_ids=[r.id])
        if not delivery.ok:
            return Outcome(Reply(f"Round #{r.id} stays paused: {delivery.note()} Nothing else was changed.", ok=False))
        await clear_delivery_note(svc, r.id)
        posted = f" Posted the {delivery.delivered} message(s) that were missing."
    now = svc.now()
    new = now + timedelta(seconds=r.paused_remaining_seconds)
    text = f"{phase} is running again and ends {time_token(new)} ({span_text(r.paused_remaining_seconds)} from now)."
    post = _announce(r, f"{phase} resumed", f"{text} Resumed by {ANONYMOUS_MODERATOR}.")
    await _set_deadline(svc, r, ends=new, paused=None, post=post)
    return Outcome(Reply(f"Round #{r.id}: {text}{posted}"))


async def set_reminder_messages(cmd: SetReminderMessages, svc: Services) -> Outcome:
    community, member = cmd.actor.community, cmd.actor.member
    if cmd.enabled:
        async with svc.uow() as uow:
            await uow.session.exec(
                delete(ReminderOptOutRow).where(
                    col(ReminderOptOutRow.community) == community, col(ReminderOptOutRow.member) == member
                )
            )
            await uow.commit()
        return Outcome(Reply("You will get direct-message reminders to vote in this community again."))
    try:
        async with svc.uow() as uow:
            s = uow.session
            known = (
                await s.exec(
                    select(ReminderOptOutRow.id).where(
                        ReminderOptOutRow.community == community, ReminderOptOutRow.member == member
                    )
                )
            ).first()
            if known is None:
                s.add(ReminderOptOutRow(community=community, member=member, at=svc.now()))
                await uow.commit()
    except IntegrityError:
        pass  # the same request, delivered twice at once: already off
    return Outcome(
        Reply(
            "You will get no direct-message reminders in this community; reminders in the round's channel still "
            "appear. Send /reminders on to get them again."
        )
    )
