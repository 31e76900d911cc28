"""Phase deadlines: reading durations and end times, planning a round's phases, and the end of the
phase a round enters. Pure functions plus one lookup; the scheduler (bot.scheduler) and the
transitions (bot.rounds.lifecycle, bot.generation.candidates) share them.

Every time is stored in UTC; an end time given with an offset or a named zone is converted."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.bounds import EARLIEST, LATEST, check_moment
from bot.domain.model import Phase, aware
from bot.domain.outputs import time_token
from bot.errors import CommandError
from storage.tables import RoundRow, RoundScheduleRow

MAX_PHASE = timedelta(days=60)
DEFAULT_REMINDERS: tuple[int, ...] = (24 * 3600, 3600)
OPEN_PHASES = (Phase.REVIEW, Phase.AMEND, Phase.VOTE)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)$")
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_ENDLESS = {"forever", "never", "inf", "infinite", "infinity", "∞", "unlimited"}
_MOMENT = re.compile(r"^(.*?)(?:\[([^\]]+)\])?$")


def span_text(seconds: float) -> str:
    """A short human length: 45s, 20m, 1h 30m, 2d 3h."""
    s = max(0, math.ceil(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def parse_span(value: str, what: str, *, minimum_seconds: int = 60) -> timedelta:
    """A positive length of time (30m, 48h, 2d, 1w; seconds only when the minimum allows them)."""
    v = value.strip().lower()
    if v.startswith("-"):
        raise CommandError(f"'{value[:40]}' is not a duration for the {what}: it is negative; give e.g. 30m, 48h or 2d.")
    if v in _ENDLESS:
        longest = span_text(MAX_PHASE.total_seconds())
        raise CommandError(f"'{value[:40]}' is not a duration for the {what}: every phase ends, at most {longest} later.")
    m = _DURATION.match(v)
    if not m:
        raise CommandError(f"'{value[:40]}' is not a duration for the {what}: write e.g. 30m, 48h, 2d or 1w.")
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if seconds < minimum_seconds:
        raise CommandError(f"The {what} '{value}' is too short: the minimum is {span_text(minimum_seconds)}.")
    if seconds > MAX_PHASE.total_seconds():
        raise CommandError(f"The {what} '{value}' is too long: the maximum is {span_text(MAX_PHASE.total_seconds())}.")
    return timedelta(seconds=round(seconds))


def parse_moment(value: str, what: str) -> datetime:
    """An ISO date and time with a time zone: 2026-12-01T18:00+01:00, …Z, or …[Europe/Paris]. UTC out."""
    m = _MOMENT.match(value.strip())
    text, zone = (m.group(1), m.group(2)) if m else (value, None)
    example = "write e.g. 2026-12-01T18:00+01:00, 2026-12-01T17:00Z or 2026-12-01T18:00[Europe/Paris]"
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"The {what} '{value[:60]}' is not a date and time: {example}.") from None
    if zone is not None:
        try:
            tz = ZoneInfo(zone.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(
                f"The {what} '{value[:60]}' names an unknown time zone '{zone[:40]}' (e.g. Europe/Paris)."
            ) from None
        if moment.tzinfo is not None and moment.utcoffset() != moment.replace(tzinfo=tz).utcoffset():
            raise CommandError(f"The {what} '{value[:60]}' has an offset that does not match {zone}: give one or the other.")
        moment = moment.replace(tzinfo=tz)
    elif moment.tzinfo is None:
        raise CommandError(f"The {what} '{value[:60]}' has no time zone, so its moment is unclear: {example}.")
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59-05:00 is in the year 10000 in UTC
        in_utc = EARLIEST - timedelta(days=1) if moment.year < EARLIEST.year else LATEST + timedelta(days=1)
    return check_moment(in_utc, f"The {what} '{value[:60]}'")


def parse_reminders(value: str, *, minimum_seconds: int = 60) -> tuple[int, ...]:
    """'24h,1h' → (86400, 3600), longest first; 'none' or 'off' → no reminders."""
    v = value.strip().lower()
    if v in ("", "none", "off", "no"):
        return ()
    offsets = {int(parse_span(part, "reminder offset", minimum_seconds=minimum_seconds).total_seconds()) for part in v.split(",")}
    if len(offsets) > 6:
        raise CommandError("Give at most 6 reminder offsets, e.g. reminders=24h,1h.")
    return tuple(sorted(offsets, reverse=True))


def offsets_text(offsets: tuple[int, ...]) -> str:
    return ",".join(str(o) for o in offsets)


def offsets_from_text(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    if text is None:
        return default
    return tuple(int(x) for x in text.split(",") if x.strip())


@dataclass(frozen=True, slots=True)
class PhasePlan:
    """How long each phase lasts (the planned length) and, where given, when it ends at the latest."""

    review_seconds: int
    amend_seconds: int
    vote_seconds: int
    review_ends_at: datetime | None = None
    amend_ends_at: datetime | None = None
    vote_ends_at: datetime | None = None
    reminders: tuple[int, ...] | None = None  # None: the bot's default offsets

    @property
    def has_schedule_row(self) -> bool:
        return any(x is not None for x in (self.review_ends_at, self.amend_ends_at, self.vote_ends_at, self.reminders))


def plan_phases(
    *,
    durations: tuple[str, str, str],
    ends: tuple[str, str, str],
    reminders: str,
    now: datetime,
    minimum_seconds: int,
) -> PhasePlan:
    """Durations (review=48h …) and explicit end times (review-ends=… wins over review=) for the three
    phases, checked in order: every end in the future, after the previous one, each phase at least the
    minimum and at most 60 days long. The review starts about now (when the candidates are ready)."""
    start = now
    seconds: list[int] = []
    explicit: list[datetime | None] = []
    for phase, duration, end_text in zip(OPEN_PHASES, durations, ends, strict=True):
        name = phase.value
        if end_text.strip():
            end = parse_moment(end_text, f"{name}-ends time")
            if end <= now:
                raise CommandError(f"{name}-ends={end_text[:60]} is in the past (now is {time_token(now)}); give a future time.")
            length = (end - start).total_seconds()
            if length < minimum_seconds:
                before = (
                    "now" if phase == Phase.REVIEW else f"the end of the {OPEN_PHASES[OPEN_PHASES.index(phase) - 1].value} phase"
                )
                raise CommandError(
                    f"{name}-ends={end_text[:60]} leaves the {name} phase {span_text(max(length, 0))} after {before}; "
                    f"the minimum is {span_text(minimum_seconds)}."
                )
            if length > MAX_PHASE.total_seconds():
                raise CommandError(f"{name}-ends={end_text[:60]} makes the {name} phase longer than 60d.")
            seconds.append(math.ceil(length))
            explicit.append(end)
            start = end
        else:
            span = parse_span(duration, f"{name} duration", minimum_seconds=minimum_seconds)
            seconds.append(int(span.total_seconds()))
            explicit.append(None)
            start = start + span
    offsets = None if not reminders.strip() else parse_reminders(reminders, minimum_seconds=minimum_seconds)
    return PhasePlan(seconds[0], seconds[1], seconds[2], explicit[0], explicit[1], explicit[2], offsets)


def schedule_row(round_id: int, plan: PhasePlan) -> RoundScheduleRow:
    return RoundScheduleRow(
        round_id=round_id,
        review_ends_at=plan.review_ends_at,
        amend_ends_at=plan.amend_ends_at,
        vote_ends_at=plan.vote_ends_at,
        reminder_offsets=None if plan.reminders is None else offsets_text(plan.reminders),
    )


async def round_schedule(s: AsyncSession, round_id: int) -> RoundScheduleRow | None:
    return (await s.exec(select(RoundScheduleRow).where(RoundScheduleRow.round_id == round_id))).first()


async def planned_end(s: AsyncSession, r: RoundRow, phase: Phase, now: datetime) -> datetime | None:
    """When a phase the round enters now ends: its explicit end time if one was given and is still
    ahead, otherwise now plus its planned length. None for CLOSED and CANCELLED."""
    seconds = {Phase.REVIEW: r.review_seconds, Phase.AMEND: r.amend_seconds, Phase.VOTE: r.vote_seconds}.get(phase)
    if seconds is None:
        return None
    assert r.id is not None
    row = await round_schedule(s, r.id)
    if row is not None:
        explicit = aware({Phase.REVIEW: row.review_ends_at, Phase.AMEND: row.amend_ends_at, Phase.VOTE: row.vote_ends_at}[phase])
        if explicit is not None and explicit > now:
            return explicit
    return now + timedelta(seconds=seconds)
