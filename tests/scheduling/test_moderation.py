"""Moderators extend, shorten, set, pause and resume a phase: each change is announced and re-arms the
scheduler (checked in the APScheduler jobs and in the database). Bad input gets a clear error and
changes nothing: invalid durations, end times in the past or without a time zone, and more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, Phase, Turn
from bot.domain.outputs import time_token
from bot.inbound.parser import parse
from bot.rounds.lifecycle import advance
from bot.scheduler import RoundScheduler, deadline_job_id, reminder_job_id
from tests.conftest import actor
from tests.scheduling.support import open_round, refused, round_row, utc
from tests.support.fakes import FakeChat, FixedClock


@pytest.fixture
async def scheduler(app: App) -> AsyncIterator[RoundScheduler]:
    s = RoundScheduler(app.engine.services, poll_seconds=3600, reminder_offsets=(86400, 3600))
    await s.start()
    yield s
    await s.stop()


async def run(app: App, cmd: c.Command) -> str:
    reply = await app.engine.dispatch(cmd)
    await app.engine.drain()  # the re-arm runs in the background, like after any command
    assert reply.ok, reply.text
    return reply.text


async def test_extend_shorten_set_pause_resume_re_arm(
    app: App, mod: Actor, chat: FakeChat, clock: FixedClock, scheduler: RoundScheduler
) -> None:
    t0 = clock.now()
    rid = await open_round(app, mod)

    def hours(h: float) -> datetime:
        return t0 + timedelta(hours=h)

    async def armed() -> tuple[datetime | None, dict[str, datetime]]:
        return utc((await round_row(app, rid)).phase_ends_at), scheduler.jobs()

    assert await armed() == (hours(48), {deadline_job_id(rid): hours(48), reminder_job_id(rid): hours(24)})

    assert "now ends" in await run(app, c.ExtendPhase(mod, rid, "12h"))
    assert await armed() == (hours(60), {deadline_job_id(rid): hours(60), reminder_job_id(rid): hours(36)})
    post = chat.titled(f"Round #{rid}: REVIEW extended by 12h")[0]
    assert time_token(hours(60)) in post.text and time_token(hours(48)) in post.text and "Changed by a moderator." in post.text

    await run(app, c.ShortenPhase(mod, rid, "20h"))
    assert await armed() == (hours(40), {deadline_job_id(rid): hours(40), reminder_job_id(rid): hours(16)})
    assert chat.titled(f"Round #{rid}: REVIEW shortened by 20h")

    # an explicit end with a named time zone: 10:00 in Paris on 25 November is 09:00 UTC, 45h after t0
    await run(app, c.SetPhaseEnd(mod, rid, "2026-11-25T10:00[Europe/Paris]"))
    assert await armed() == (hours(45), {deadline_job_id(rid): hours(45), reminder_job_id(rid): hours(21)})
    [moved] = chat.titled(f"Round #{rid}: REVIEW has a new end")
    assert f"REVIEW now ends {time_token(hours(45))}" in moved.text

    # a wake-up armed for an old deadline (here 40h) finds the round not due and changes nothing; the
    # 24h reminder of the new deadline (45h) is due, though, and is posted
    clock.moment = hours(40)
    assert not (await advance(app.engine.services, rid, Phase.REVIEW, due_by=clock.now())).changed
    assert [(w.kind, w.detail) for w in await scheduler.reconcile_all()] == [("reminded", "86400")]
    reminded = chat.titled(f"Round #{rid}: the review ends")[-1]
    assert reminded.title.endswith(" in 5h") and reminded.text.startswith(f"The review ends {time_token(hours(45))}. ")

    clock.moment = hours(41)
    assert "paused with 4h left" in await run(app, c.PausePhase(mod, rid))
    r = await round_row(app, rid)
    assert (r.phase_ends_at, r.paused_remaining_seconds) == (None, 4 * 3600)
    assert scheduler.jobs() == {}  # nothing armed while paused
    assert "(paused)" in (await app.engine.dispatch(c.RoundStatus(mod, rid))).text

    clock.moment = hours(100)  # long past the old deadline: a paused phase does not end
    assert await scheduler.reconcile_all() == []
    assert (await round_row(app, rid)).phase == "review"
    await run(app, c.ExtendPhase(mod, rid, "1h"))  # extending a paused phase adds to the time it has left
    assert (await round_row(app, rid)).paused_remaining_seconds == 5 * 3600

    assert "ends" in await run(app, c.ResumePhase(mod, rid))
    assert await armed() == (hours(105), {deadline_job_id(rid): hours(105), reminder_job_id(rid): hours(104)})
    # on resume the deadline is 5h away: the reminder for it is posted at once, the 1h one is armed
    reminded = chat.titled(f"Round #{rid}: the review ends")[-1]
    assert reminded.title.endswith(" in 5h") and reminded.text.startswith(f"The review ends {time_token(hours(105))}. ")
    clock.moment = hours(104)
    assert [(w.kind, w.detail) for w in await scheduler.reconcile_all()] == [("reminded", "3600")]
    clock.moment = hours(105)
    assert [(w.kind, w.detail) for w in await scheduler.reconcile_all()] == [("advanced", "amend")]
    assert (await round_row(app, rid)).phase == "amend"
    assert [p.title for p in chat.titled(f"Round #{rid}: REVIEW ")][-3:] == [
        f"Round #{rid}: REVIEW paused",
        f"Round #{rid}: REVIEW extended by 1h",
        f"Round #{rid}: REVIEW resumed",
    ]


async def test_bad_changes_are_refused_and_change_nothing(
    app: App, mod: Actor, clock: FixedClock, scheduler: RoundScheduler
) -> None:
    rid = await open_round(app, mod)
    alice = actor("alice")
    await refused(app, c.ExtendPhase(alice, rid, "1h"), "Only moderators")
    await refused(app, c.PausePhase(alice, rid), "Only moderators")
    await refused(app, c.ExtendPhase(mod, rid, "-3h"), "negative")
    await refused(app, c.ExtendPhase(mod, rid, "forever"), "not a duration")
    await refused(app, c.ExtendPhase(mod, rid, "61d"), "too long")
    await refused(app, c.ExtendPhase(mod, rid, "59d"), "more than 60d from now")
    await refused(app, c.ShortenPhase(mod, rid, "48h"), "in the past")
    await refused(app, c.ShortenPhase(mod, rid, "3d"), "/round advance")
    await refused(app, c.SetPhaseEnd(mod, rid, "2020-01-01T00:00Z"), "in the past")
    await refused(app, c.SetPhaseEnd(mod, rid, "2026-11-25T10:00"), "no time zone")
    await refused(app, c.SetPhaseEnd(mod, rid, "2026-11-25T10:00[Nowhere/Else]"), "unknown time zone")
    await refused(app, c.ResumePhase(mod, rid), "not paused")
    await refused(app, c.ExtendPhase(mod, 99, "1h"), "no round #99")
    await run(app, c.PausePhase(mod, rid))
    await refused(app, c.PausePhase(mod, rid), "already paused")
    await refused(app, c.SetPhaseEnd(mod, rid, "2026-11-25T10:00Z"), "resume it first")
    await refused(app, c.ShortenPhase(mod, rid, "3d"), "leaves nothing")
    await run(app, c.ResumePhase(mod, rid))
    assert (await app.engine.dispatch(c.CancelRound(mod, rid))).ok
    await refused(app, c.ExtendPhase(mod, rid, "1h"), "only in REVIEW or AMEND or VOTE")


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"review": "-3h"}, "negative"),
        ({"amend": "forever"}, "every phase ends"),
        ({"vote": "0h"}, "too short"),
        ({"review": "30s"}, "the minimum is 1m"),
        ({"review_ends": "2026-11-01T12:00Z"}, "in the past"),
        ({"review_ends": "2026-11-24T12:00"}, "no time zone"),
        ({"review_ends": "next tuesday"}, "not a date and time"),
        ({"review_ends": "2026-11-25T12:00Z", "amend_ends": "2026-11-25T11:00Z"}, "leaves the amend phase"),
        ({"reminders": "often"}, "reminder offset"),
    ],
)
async def test_invalid_durations_open_nothing(app: App, mod: Actor, options: dict[str, Any], why: str) -> None:
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", "1. Be kind."))).ok
    assert (await e.dispatch(c.AddScenario(mod, (Turn("user", "Hi?"),)))).ok
    await refused(app, c.OpenRound(mod, "kind", "general", (1,), **options), why)


async def test_explicit_end_times_are_kept_through_the_phases(
    app: App, mod: Actor, chat: FakeChat, clock: FixedClock, scheduler: RoundScheduler
) -> None:
    t0 = clock.now()  # 2026-11-23 12:00 UTC
    rid = await open_round(
        app,
        mod,
        review_ends="2026-11-24T18:00[Europe/Paris]",  # 17:00 UTC
        amend_ends="2026-11-25T12:00-05:00",  # 17:00 UTC
        vote_ends="2026-11-26T17:00Z",
    )
    r = await round_row(app, rid)
    assert utc(r.phase_ends_at) == datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    assert time_token(datetime(2026, 11, 24, 17, 0, tzinfo=UTC)) in chat.titled("Policy round #")[0].text
    assert scheduler.jobs()[deadline_job_id(rid)] == datetime(2026, 11, 24, 17, 0, tzinfo=UTC)

    clock.moment = t0 + timedelta(hours=2)  # a moderator ends the review early: AMEND still ends at its time
    assert (await app.engine.dispatch(c.AdvanceRound(mod, rid))).ok
    await app.engine.drain()
    assert utc((await round_row(app, rid)).phase_ends_at) == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    assert scheduler.jobs()[deadline_job_id(rid)] == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    assert (await app.engine.dispatch(c.ProposeAmendment(actor("alice"), rid, AmendmentKind.ADD, None, "Be brief.", ""))).ok

    # the amend phase is extended past the vote's planned end: the vote then gets its planned length
    await run(app, c.ExtendPhase(mod, rid, "2d"))
    clock.moment = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert [w.detail for w in await scheduler.reconcile_all()] == ["vote"]
    assert utc((await round_row(app, rid)).phase_ends_at) == clock.now() + timedelta(hours=24)


def test_parser_reads_the_scheduling_syntax() -> None:
    me = actor("mod", moderator=True)
    opened = parse("/round open kind scenarios=1 review-ends=2026-12-01T18:00[Europe/Paris] vote=2d reminders=24h,1h", me, "g")
    assert isinstance(opened, c.OpenRound)
    assert (opened.review_ends, opened.vote, opened.reminders) == ("2026-12-01T18:00[Europe/Paris]", "2d", "24h,1h")
    assert parse("/round extend 3 12h", me, "g") == c.ExtendPhase(me, 3, "12h")
    assert parse("/round shorten 3 2h", me, "g") == c.ShortenPhase(me, 3, "2h")
    assert parse("/round ends 3 2026-12-01T18:00+01:00", me, "g") == c.SetPhaseEnd(me, 3, "2026-12-01T18:00+01:00")
    assert parse("/round pause 3", me, "g") == c.PausePhase(me, 3)
    assert parse("/round resume 3", me, "g") == c.ResumePhase(me, 3)
    assert parse("/reminders off", me, "g") == c.SetReminderMessages(me, False)
    assert parse("/reminders ON", me, "g") == c.SetReminderMessages(me, True)
    from bot.errors import CommandError

    for bad, why in (
        ("/round open kind scenarios=1 review=1h review-ends=2026-12-01T18:00Z", "not both"),
        ("/round extend 3", "Missing arguments"),
        ("/reminders maybe", "/reminders on or /reminders off"),
    ):
        with pytest.raises(CommandError, match=why):
            parse(bad, me, "g")


async def test_reminder_messages_opt_out_and_back(app: App) -> None:
    dave = actor("dave")
    assert "no direct-message reminders" in (await app.engine.dispatch(c.SetReminderMessages(dave, False))).text
    assert "no direct-message reminders" in (await app.engine.dispatch(c.SetReminderMessages(dave, False))).text  # idempotent
    assert "again" in (await app.engine.dispatch(c.SetReminderMessages(dave, True))).text
