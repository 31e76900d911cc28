"""The scheduler with a controllable clock, on SQLite and PostgreSQL: every transition and reminder
at its time and once; a deadline missed while the bot was down fires once on start-up; the
APScheduler jobs follow the deadlines in the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.bootstrap import App, bootstrap
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Phase, Stance
from bot.domain.outputs import time_token
from bot.scheduler import RoundScheduler, Wake, deadline_job_id, reminder_job_id
from bot.settings import Settings
from storage.database import Database
from storage.tables import PolicyVersionRow, ReminderSentRow, TallyRow
from tests.conftest import actor
from tests.scheduling.support import candidates, open_round, round_row, titles, utc
from tests.support.fakes import FakeChat, FakeGenerator, FixedClock


@pytest.fixture
async def scheduler(app: App) -> AsyncIterator[RoundScheduler]:
    s = RoundScheduler(app.engine.services, poll_seconds=3600, reminder_offsets=(86400, 3600))
    await s.start()
    yield s
    await s.stop()


def kinds(wakes: list[Wake]) -> list[tuple[str, str, str]]:
    return [(w.kind, w.phase.value, w.detail) for w in wakes]


async def test_every_transition_and_reminder_at_its_time(
    app: App, mod: Actor, chat: FakeChat, clock: FixedClock, scheduler: RoundScheduler
) -> None:
    e = app.engine
    t0 = clock.now()
    rid = await open_round(app, mod, quorum=3)  # review 48h, amend 24h, vote 24h
    r = await round_row(app, rid)
    assert r.phase == "review" and utc(r.phase_ends_at) == t0 + timedelta(hours=48)
    # armed by the generation's OPENING → REVIEW, not by a poll: the deadline, and the 24h reminder
    assert scheduler.jobs() == {deadline_job_id(rid): t0 + timedelta(hours=48), reminder_job_id(rid): t0 + timedelta(hours=24)}
    announcement = chat.titled("Policy round #")[0]
    assert time_token(t0 + timedelta(hours=48)) in announcement.text  # absolute time in the round's post

    cands = await candidates(app, rid)
    for i, who in enumerate(("alice", "bob", "carol", "dave", "erin")):
        assert (await e.dispatch(c.RecordReaction(actor(who), Stance.ENDORSE, f"ev-{i}", candidate_id=cands[i % 2]))).ok

    async def at(hours: float, seconds: float = 0) -> list[tuple[str, str, str]]:
        clock.moment = t0 + timedelta(hours=hours, seconds=seconds)
        wakes = await scheduler.reconcile_all()
        await e.drain()
        return kinds(wakes)

    assert await at(24, -1) == []
    assert await at(24) == [("reminded", "review", "86400")]
    reminder = chat.titled(f"Round #{rid}: the review ends")[-1]
    assert reminder.title == f"Round #{rid}: the review ends in 1d"  # the time is in the text: titles carry none
    assert reminder.text.startswith(f"The review ends {time_token(t0 + timedelta(hours=48))}. ")
    assert "5 member(s) have reacted so far, to 2 of 2 candidate(s)" in reminder.text
    assert await at(24, 1) == []  # posted once
    assert scheduler.jobs()[reminder_job_id(rid)] == t0 + timedelta(hours=47)
    assert await at(47) == [("reminded", "review", "3600")]
    assert chat.titled(f"Round #{rid}: the review ends")[-1].title.endswith(" in 1h")
    assert await at(48, -1) == []
    assert await at(48) == [("advanced", "review", "amend")]
    assert titles(chat, "amendments are open") == [f"Round #{rid}: amendments are open"]
    assert chat.titled(f"Round #{rid}: amendments are open")[0].text.startswith(
        f"Open until {time_token(t0 + timedelta(hours=72))}. "
    )
    # AMEND lasts 24h: a 24h reminder would fall at its start, so only the 1h one is armed
    assert scheduler.jobs() == {deadline_job_id(rid): t0 + timedelta(hours=72), reminder_job_id(rid): t0 + timedelta(hours=71)}

    proposed = await e.dispatch(c.ProposeAmendment(actor("alice"), rid, AmendmentKind.ADD, None, "Be concise.", "shorter"))
    assert proposed.ok, proposed.text
    assert await at(71) == [("reminded", "amend", "3600")]
    assert "1 amendment(s) proposed so far by 1 member(s)" in chat.titled(f"Round #{rid}: amendments close")[-1].text
    assert await at(72) == [("advanced", "amend", "vote")]
    assert len(titles(chat, "the vote is open")) == 1

    for who, choice in (("alice", BallotChoice.YES), ("bob", BallotChoice.NO), ("carol", BallotChoice.YES)):
        assert (await e.dispatch(c.CastBallot(actor(who), 1, choice))).ok
    assert (await e.dispatch(c.SetReminderMessages(actor("dave"), enabled=False))).ok
    chat.private.clear()
    clock.moment = t0 + timedelta(hours=95)
    [wake] = await scheduler.reconcile_all()
    assert (wake.kind, wake.phase, wake.direct_messages) == ("reminded", Phase.VOTE, 1)
    vote_reminder = chat.titled(f"Round #{rid}: the vote closes")[-1]
    assert "3 of 5 members have voted; quorum is 3" in vote_reminder.text
    assert [f.value for f in vote_reminder.fields] == ["3 ballot(s) so far; quorum 3"]
    # a direct message to the member who reacted and has not voted (dave opted out; alice, bob, carol voted)
    assert [(a.member, a.community) for a, _ in chat.private] == [("erin", "guild-1")]
    assert "have not voted yet" in chat.private[0][1].text and "/reminders off" in chat.private[0][1].text

    assert await at(96) == [("advanced", "vote", "closed")]
    assert len(titles(chat, f"Round #{rid}: results")) == 1
    assert "kind v2 is published" in chat.titled(f"Round #{rid}: results")[0].text
    assert (await round_row(app, rid)).phase == "closed"
    assert scheduler.jobs() == {}
    assert await at(200) == []
    async with app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(func.count()).select_from(ReminderSentRow))).one() == 4
        assert (await uow.session.exec(select(func.count()).select_from(PolicyVersionRow))).one() == 2
        assert [t.yes for t in (await uow.session.exec(select(TallyRow))).all()] == [2]


async def test_deadline_missed_while_down_fires_once_on_start_up(
    app: App, mod: Actor, chat: FakeChat, clock: FixedClock, database_url: str
) -> None:
    t0 = clock.now()
    rid = await open_round(app, mod)  # no scheduler runs: the bot is "down"
    clock.moment = t0 + timedelta(days=3)  # the REVIEW deadline (48h) passed a day ago; both reminders were missed

    first = RoundScheduler(app.engine.services, poll_seconds=3600)
    try:
        wakes = await first.start()
        await app.engine.drain()
        assert kinds(wakes) == [("advanced", "review", "amend")]  # the missed review reminders are not sent late
        assert len(titles(chat, "amendments are open")) == 1
        r = await round_row(app, rid)
        assert utc(r.phase_ends_at) == clock.now() + timedelta(hours=24)  # AMEND gets its whole length from now
        assert kinds(await first.reconcile_all()) == []

        # another process starting against the same database finds nothing left to do
        other_chat = FakeChat()
        other = bootstrap(
            Settings(database_url=database_url, sampling="independent", max_drafts=0, preview=False),
            other_chat,
            generator=FakeGenerator(),
            clock=clock,
            database=Database(database_url),
        )
        second = RoundScheduler(other.engine.services, poll_seconds=3600)
        try:
            assert kinds(await second.start()) == []
            assert other_chat.posts == {}
        finally:
            await second.stop()
            await other.close()
    finally:
        await first.stop()

    # down again through the AMEND reminder's time: on start-up only that reminder is due, and it is sent once
    clock.moment += timedelta(hours=23, minutes=30)
    again = RoundScheduler(app.engine.services, poll_seconds=3600)
    try:
        assert kinds(await again.start()) == [("reminded", "amend", "3600")]
        assert chat.titled(f"Round #{rid}: amendments close")[-1].title.endswith(" in 30m")
        assert kinds(await again.reconcile_all()) == []
    finally:
        await again.stop()


async def test_jobs_are_rebuilt_from_the_database(app: App, mod: Actor, clock: FixedClock) -> None:
    t0 = clock.now()
    rid = await open_round(app, mod, reminders="6h")
    scheduler = RoundScheduler(app.engine.services, poll_seconds=3600)
    try:
        await scheduler.start()
        # the round's own reminder offsets (reminders=6h) replace the default 24h and 1h
        assert scheduler.jobs() == {
            deadline_job_id(rid): t0 + timedelta(hours=48),
            reminder_job_id(rid): t0 + timedelta(hours=42),
        }
        runs = scheduler.next_run_times()
        # wake-ups are armed on the wall clock the same distance ahead as the deadline on the engine's clock
        assert runs[deadline_job_id(rid)] - runs[reminder_job_id(rid)] == timedelta(hours=6)
        assert (await app.engine.dispatch(c.CancelRound(mod, rid))).ok
        await scheduler.reconcile_all()
        assert scheduler.jobs() == {}
    finally:
        await scheduler.stop()
    assert not scheduler.running


async def test_a_real_wake_up_fires_at_the_deadline(tmp_path: object, mod: Actor) -> None:
    """No fake clock: APScheduler's own date job moves the round on (the safety-net poll is an hour)."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    from storage.migrate import upgrade_async

    await upgrade_async(url)
    chat = FakeChat()
    settings = Settings(database_url=url, sampling="independent", max_drafts=0, preview=False, min_phase_seconds=1)
    application = bootstrap(settings, chat, generator=FakeGenerator())
    scheduler = RoundScheduler(application.engine.services, poll_seconds=3600)
    try:
        await scheduler.start()
        rid = await open_round(application, mod, review="1s", amend="1h", vote="1h")
        for _ in range(600):  # the transition commits, then posts: wait for both
            if (await round_row(application, rid)).phase == "amend" and titles(chat, "amendments are open"):
                break
            await asyncio.sleep(0.05)
        assert (await round_row(application, rid)).phase == "amend"
        assert len(titles(chat, "amendments are open")) == 1
    finally:
        await scheduler.stop()
        await application.close()
