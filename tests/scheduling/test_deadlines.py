"""Durations, end times with a time zone, reminder offsets and phase plans: what is accepted, and a
clear error for everything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import CommandError
from bot.rounds.deadlines import PhasePlan, parse_moment, parse_reminders, parse_span, plan_phases, span_text

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("48h", 172800), ("2d", 172800), ("1w", 604800), ("1.5h", 5400), ("90 min", 5400), ("60d", 5184000)],
)
def test_spans(text: str, seconds: int) -> None:
    assert parse_span(text, "review duration") == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("-3h", "negative"),
        ("forever", "every phase ends"),
        ("never", "every phase ends"),
        ("soon", "write e.g. 30m"),
        ("3", "write e.g. 30m"),
        ("", "write e.g. 30m"),
        ("0m", "too short"),
        ("30s", "too short: the minimum is 1m"),
        ("61d", "too long"),
        ("9w", "too long"),
    ],
)
def test_bad_spans_say_why(bad: str, why: str) -> None:
    with pytest.raises(CommandError) as e:
        parse_span(bad, "review duration")
    assert why in e.value.message and "review" in e.value.message


def test_seconds_allowed_only_below_a_lower_minimum() -> None:
    assert parse_span("5s", "vote duration", minimum_seconds=1) == timedelta(seconds=5)
    with pytest.raises(CommandError, match="minimum is 1m"):
        parse_span("59s", "vote duration", minimum_seconds=60)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-12-01T18:00+01:00", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("2026-12-01T17:00Z", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("2026-12-01T18:00[Europe/Paris]", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),  # CET in winter
        ("2026-07-01T18:00[Europe/Paris]", datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),  # CEST in summer
        ("2026-12-01T18:00+01:00[Europe/Paris]", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("2026-12-01 09:30-08:00", datetime(2026, 12, 1, 17, 30, tzinfo=UTC)),
    ],
)
def test_moments_with_a_time_zone(text: str, utc: datetime) -> None:
    moment = parse_moment(text, "review-ends time")
    assert moment == utc and moment.tzinfo == UTC


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("2026-12-01T18:00", "no time zone"),
        ("tomorrow", "not a date and time"),
        ("2026-13-01T18:00Z", "not a date and time"),
        ("2026-12-01T18:00[Mars/Olympus]", "unknown time zone"),
        ("2026-12-01T18:00+05:00[Europe/Paris]", "does not match"),
    ],
)
def test_bad_moments_say_why(bad: str, why: str) -> None:
    with pytest.raises(CommandError, match=why):
        parse_moment(bad, "review-ends time")


def test_reminder_offsets() -> None:
    assert parse_reminders("24h,1h") == (86400, 3600)
    assert parse_reminders("1h, 24h, 1h") == (86400, 3600)  # sorted, longest first, once each
    assert parse_reminders("none") == () and parse_reminders("off") == ()
    with pytest.raises(CommandError, match="negative"):
        parse_reminders("24h,-1h")
    with pytest.raises(CommandError, match="at most 6"):
        parse_reminders("1h,2h,3h,4h,5h,6h,7h")


def plan(**kw: str) -> PhasePlan:
    durations = (kw.get("review", "48h"), kw.get("amend", "24h"), kw.get("vote", "24h"))
    ends = (kw.get("review_ends", ""), kw.get("amend_ends", ""), kw.get("vote_ends", ""))
    return plan_phases(durations=durations, ends=ends, reminders=kw.get("reminders", ""), now=NOW, minimum_seconds=60)


def test_plan_from_durations_has_no_schedule_row() -> None:
    p = plan(review="2d", amend="12h", vote="1d")
    assert (p.review_seconds, p.amend_seconds, p.vote_seconds) == (172800, 43200, 86400)
    assert not p.has_schedule_row


def test_plan_with_end_times_and_reminders() -> None:
    p = plan(review_ends="2026-11-24T13:00+01:00", amend="6h", vote_ends="2026-11-25T12:00[Europe/Paris]", reminders="2h")
    assert p.review_ends_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert p.review_seconds == 24 * 3600
    assert p.amend_ends_at is None and p.amend_seconds == 6 * 3600
    # the vote's planned length runs from the planned end of AMEND (24h + 6h from now) to its end
    assert p.vote_ends_at == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    assert p.vote_seconds == 17 * 3600
    assert p.reminders == (7200,) and p.has_schedule_row


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"review_ends": "2020-01-01T00:00Z"}, "in the past"),
        ({"review_ends": "2026-11-23T12:00:30Z"}, "the minimum is 1m"),
        ({"review_ends": "2026-11-24T12:00Z", "amend_ends": "2026-11-24T11:00Z"}, "leaves the amend phase 0s"),
        ({"review_ends": "2027-06-01T12:00Z"}, "longer than 60d"),
        ({"vote": "forever"}, "every phase ends"),
        ({"amend": "-3h"}, "negative"),
        ({"reminders": "soon"}, "not a duration for the reminder offset"),
    ],
)
def test_bad_plans_say_why(kw: dict[str, str], why: str) -> None:
    with pytest.raises(CommandError, match=why):
        plan(**kw)


def test_span_text() -> None:
    assert [span_text(x) for x in (0, 45, 60, 125, 3600, 5400, 86400, 90000)] == [
        "0s",
        "45s",
        "1m",
        "2m 5s",
        "1h",
        "1h 30m",
        "1d",
        "1d 1h",
    ]
