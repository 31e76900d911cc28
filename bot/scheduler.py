"""The scheduler: APScheduler 3.11 wakes the engine at each round's deadline and reminder time.

The deadlines live in the round rows (`phase_ends_at`, `paused_remaining_seconds`), never in a job
store: on start-up, every few seconds as a safety net (POLICYBOT_SCHEDULER_POLL_SECONDS), and
whenever a round's schedule changes (`Services.schedule_changed`), the scheduler re-reads the
rounds, does whatever is overdue, and re-arms one date job per round for the next deadline and one
for the next reminder. Nothing depends on a job firing on time (or at all): a job only triggers the
same reconcile that start-up and the safety net run.

Exactly once:
- a deadline calls `bot.rounds.lifecycle.advance(…, due_by=now)`, a compare-and-set on the round's phase
  that also requires the deadline to have passed and the phase not to be paused, so a late, repeated
  or stale wake-up, or two processes at once, move the round once;
- a reminder is claimed by inserting its `reminder_sent` row (unique per round, phase, offset and
  deadline) before it is posted, so it is posted once even across restarts and processes.

Decisions use the engine's clock (`Services.clock`); wake-ups are armed on the wall clock at the
same distance ahead, so tests can drive a fixed clock and call `reconcile_all()` themselves.

Adapters run it beside the engine:

    scheduler = await start_scheduler(app)   # after the chat connection is ready: it may post at once
    ...
    await scheduler.stop()                   # before app.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.domain.model import Phase, aware
from bot.generation.candidates import resume_opening
from bot.generation.precedent_checks import resume_checks
from bot.rounds.deadlines import (
    DEFAULT_REMINDERS,
    OPEN_PHASES,
    offsets_from_text,
    round_schedule,
)
from bot.rounds.lifecycle import advance
from bot.rounds.outbox import deliver_everything, deliver_round, enqueue
from bot.rounds.reminders import direct_messages, reminder_content
from bot.services import Services
from storage.tables import (
    ReminderSentRow,
    RoundRow,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger("policybot.scheduler")

RECONCILE_JOB = "policybot:reconcile"
MAX_STEPS = 4  # transitions one reconcile may make for a round before it leaves the rest to the next
STOP_GRACE_SECONDS = 10.0


def deadline_job_id(round_id: int) -> str:
    return f"round:{round_id}:deadline"


def reminder_job_id(round_id: int) -> str:
    return f"round:{round_id}:reminder"


@dataclass(frozen=True, slots=True)
class Wake:
    """Something a reconcile did: a round moved on, or a reminder was posted."""

    round_id: int
    kind: str  # "advanced" or "reminded"
    phase: Phase  # the phase that ended, or the phase reminded of
    detail: str = ""  # the phase moved to, or the reminder offset in seconds
    direct_messages: int = 0


@dataclass(frozen=True, slots=True)
class _Snapshot:
    r: RoundRow
    offsets: tuple[int, ...]


class RoundScheduler:
    def __init__(
        self,
        svc: Services,
        *,
        poll_seconds: float = 60.0,
        reminder_offsets: tuple[int, ...] = DEFAULT_REMINDERS,
        reminder_dms: bool = True,
    ) -> None:
        self.svc = svc
        self.poll_seconds = poll_seconds
        self.reminder_offsets = reminder_offsets
        self.reminder_dms = reminder_dms
        self._aps: AsyncIOScheduler | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._locks: dict[int, asyncio.Lock] = {}
        self._running: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ life cycle

    @property
    def running(self) -> bool:
        return self._aps is not None

    async def start(self, *, reconcile: bool = True) -> list[Wake]:
        """Start the wake-ups and (by default) catch up at once on everything overdue. Returns what
        the catch-up did."""
        if self._aps is not None:
            return []
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            # Date jobs are rebuilt from the database; a late one still runs (no grace limit), and the
            # reconcile it triggers is what decides, so running late or twice is harmless.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._aps.start()
        self._aps.add_job(self._poll, "interval", seconds=self.poll_seconds, id=RECONCILE_JOB, replace_existing=True)
        self._unsubscribe = self.svc.schedule.subscribe(self._changed)
        if reconcile:
            # what a stopped process committed but did not post goes out first, in order; then a round
            # whose generation was cut short is generated again: no round is left half-open
            await deliver_everything(self.svc)
            resumed = await resume_opening(self.svc)
            if resumed:
                log.info("resuming generation of round(s) %s left in OPENING", resumed)
            checking = await resume_checks(self.svc)  # precedents: amendments left unchecked on a ballot
            if checking:
                log.info("checking the amendments of round(s) %s against the precedents again", checking)
        return await self.reconcile_all() if reconcile else []

    async def stop(self) -> None:
        """Stop waking; let a reconcile under way finish (it may be posting), then shut down."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        aps, self._aps = self._aps, None
        if aps is None:
            return
        aps.pause()
        if self._running:
            _, pending = await asyncio.wait(list(self._running), timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
        aps.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn

    def jobs(self) -> dict[str, datetime]:
        """The armed wake-ups: job id → the moment (engine clock) it stands for. For tests and status."""
        if self._aps is None:
            return {}
        return {j.id: datetime.fromisoformat(j.kwargs["due"]) for j in self._aps.get_jobs() if j.id != RECONCILE_JOB}

    def next_run_times(self) -> dict[str, datetime]:
        """The wall-clock times APScheduler will fire each job at."""
        if self._aps is None:
            return {}
        return {j.id: j.next_run_time for j in self._aps.get_jobs() if j.next_run_time is not None}

    # ------------------------------------------------------------ wake-ups

    def _track(self, coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
        async def run() -> Any:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                return await coro
            finally:
                if task is not None:
                    self._running.discard(task)

        return run()

    def _changed(self, round_id: int) -> None:
        """A command or a transition moved a phase or a deadline (Services.schedule_changed)."""
        self.svc.spawn(self._track(self.reconcile_round(round_id)), name=f"schedule-round-{round_id}")

    async def _wake(self, round_id: int, due: str) -> None:
        try:
            await self._track(self.reconcile_round(round_id))
        except Exception:
            log.exception("scheduled wake-up of round %s (due %s) failed; the safety net retries", round_id, due)

    async def _poll(self) -> None:
        try:
            await self._track(self.reconcile_all())
        except Exception:
            log.exception("reconciling the rounds' deadlines failed; retrying in %ss", self.poll_seconds)

    # ------------------------------------------------------------ reconcile

    async def reconcile_all(self) -> list[Wake]:
        """Do everything overdue in every open round (and forget rounds no longer open)."""
        async with self.svc.uow() as uow:
            open_ids = set(
                (await uow.session.exec(select(RoundRow.id).where(col(RoundRow.phase).in_([p.value for p in OPEN_PHASES])))).all()
            )
        armed = {int(job_id.split(":")[1]) for job_id in self.jobs()}
        wakes: list[Wake] = []
        for round_id in sorted({i for i in open_ids if i is not None} | armed):
            try:
                wakes += await self.reconcile_round(round_id)
            except Exception:
                log.exception("reconciling round %s failed", round_id)
        return wakes

    async def reconcile_round(self, round_id: int) -> list[Wake]:
        """Move the round on if its deadline has passed, post the reminder that is due, and arm the
        next wake-ups. Safe to call at any time, any number of times, from any process."""
        lock = self._locks.setdefault(round_id, asyncio.Lock())
        wakes: list[Wake] = []
        async with lock:
            for _ in range(MAX_STEPS):
                snap = await self._read(round_id)
                now = self.svc.now()
                if snap is None:
                    self._disarm(round_id)
                    return wakes
                r = snap.r
                phase = Phase(r.phase)
                ends = aware(r.phase_ends_at)
                if phase not in OPEN_PHASES or r.paused_remaining_seconds is not None or ends is None:
                    self._disarm(round_id)
                    return wakes
                if ends <= now:
                    result = await advance(self.svc, round_id, phase, reason="the deadline passed", due_by=now)
                    if result.changed:
                        wakes.append(Wake(round_id, "advanced", phase, result.to_phase.value))
                    continue  # read again: the next phase's deadline, or what another process did
                reminder = await self._remind(snap, phase, ends, now)
                if reminder is not None:
                    wakes.append(reminder)
                self._arm(round_id, phase, ends, self._next_reminder(snap, ends, now), now)
                return wakes
        return wakes

    async def _read(self, round_id: int) -> _Snapshot | None:
        async with self.svc.uow() as uow:
            s = uow.session
            r = await s.get(RoundRow, round_id)
            if r is None:
                return None
            row = await round_schedule(s, round_id)
        return _Snapshot(r, offsets_from_text(row.reminder_offsets if row else None, self.reminder_offsets))

    # ------------------------------------------------------------ arming

    def _arm(self, round_id: int, phase: Phase, ends: datetime, reminder_at: datetime | None, now: datetime) -> None:
        if self._aps is None:
            return
        wall = datetime.now(UTC)  # wake-ups are the same distance ahead on the wall clock
        self._put(deadline_job_id(round_id), round_id, ends, wall + (ends - now))
        if reminder_at is not None:
            self._put(reminder_job_id(round_id), round_id, reminder_at, wall + (reminder_at - now))
        else:
            self._remove(reminder_job_id(round_id))

    def _put(self, job_id: str, round_id: int, due: datetime, run_at: datetime) -> None:
        assert self._aps is not None
        current = self._aps.get_job(job_id)
        if current is not None and current.kwargs.get("due") == due.isoformat():
            return  # already armed for this moment
        self._aps.add_job(
            self._wake,
            "date",
            run_date=run_at,
            id=job_id,
            replace_existing=True,
            kwargs={"round_id": round_id, "due": due.isoformat()},
        )

    def _remove(self, job_id: str) -> None:
        if self._aps is not None and self._aps.get_job(job_id) is not None:
            with contextlib.suppress(Exception):  # it may have just run and gone
                self._aps.remove_job(job_id)

    def _disarm(self, round_id: int) -> None:
        self._remove(deadline_job_id(round_id))
        self._remove(reminder_job_id(round_id))

    # ------------------------------------------------------------ reminders

    @staticmethod
    def _reminder_times(snap: _Snapshot, ends: datetime) -> list[tuple[int, datetime]]:
        """(offset, moment) of each reminder of the current phase; one that would fall before the
        phase began (a phase shorter than the offset) is left out."""
        start = aware(snap.r.phase_changed_at)
        assert start is not None
        return [(o, ends - timedelta(seconds=o)) for o in snap.offsets if ends - timedelta(seconds=o) > start]

    def _next_reminder(self, snap: _Snapshot, ends: datetime, now: datetime) -> datetime | None:
        ahead = [t for _, t in self._reminder_times(snap, ends) if t > now]
        return min(ahead) if ahead else None

    async def _remind(self, snap: _Snapshot, phase: Phase, ends: datetime, now: datetime) -> Wake | None:
        """Post the most urgent reminder that is due and not yet posted for this deadline (after
        downtime, the 1h reminder replaces a missed 24h one: members hear the deadline once)."""
        due = [o for o, t in self._reminder_times(snap, ends) if t <= now]
        if not due:
            return None
        offset = min(due)
        r = snap.r
        assert r.id is not None
        claim = ReminderSentRow(
            round_id=r.id, phase=phase.value, offset_seconds=offset, deadline_epoch=int(ends.timestamp()), sent_at=now
        )
        post, recipients = await reminder_content(self.svc, r, phase, ends, now)
        key = f"round:{r.id}:reminder:{phase.value}:{offset}:{int(ends.timestamp())}"
        try:
            async with self.svc.uow() as uow:  # the claim and its post, in one transaction
                uow.session.add(claim)
                await uow.session.flush()
                await enqueue(uow.session, key, post, community=r.community, round_id=r.id)
                await uow.commit()
        except IntegrityError:
            return None  # posted before (an earlier run, or another process)
        await deliver_round(self.svc, r.id)
        sent = 0
        if recipients and self.reminder_dms:
            sent = await direct_messages(self.svc, r, ends, now, recipients)
            async with self.svc.uow() as uow:
                await uow.session.exec(
                    update(ReminderSentRow).where(col(ReminderSentRow.id) == claim.id).values(direct_messages=sent)
                )
                await uow.commit()
        return Wake(r.id, "reminded", phase, str(offset), sent)
