"""Pure rules of the domain: clauses, diffs, durations, thresholds."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

from bot.domain.model import (
    ClauseText,
    TallyCount,
    TallyRule,
    check_name,
    check_text,
    diff_clauses,
    parse_clauses,
    parse_threshold,
    quorum_needed,
)
from bot.errors import CommandError
from bot.rounds.deadlines import parse_span


def test_markdown_clauses_with_continuations_and_headings() -> None:
    text = "# House rules\nIntro text.\n\n1. Be kind\n   to everyone.\n2) Cite sources.\n- 3. No spam."
    assert parse_clauses(text) == ["Be kind to everyone.", "Cite sources.", "No spam."]


def test_unnumbered_lines_are_clauses() -> None:
    assert parse_clauses("Be kind\n\nCite sources\n") == ["Be kind", "Cite sources"]


def test_one_line_numbered_policy_splits() -> None:
    assert parse_clauses("1. A rule. 2. Wait 3. days. 3. Last") == ["A rule.", "Wait 3. days.", "Last"]


@pytest.mark.parametrize("bad", ["", "   ", "# only a heading"])
def test_empty_policy_is_refused(bad: str) -> None:
    with pytest.raises(CommandError, match="no clauses"):
        parse_clauses(bad)


def test_oversized_clause_is_refused() -> None:
    with pytest.raises(CommandError, match="limit is 4,000"):
        parse_clauses("1. " + "x" * 4001)


def test_check_text_and_name() -> None:
    assert check_text("  hi ", "text") == "hi"
    with pytest.raises(CommandError):
        check_name("no spaces allowed")
    with pytest.raises(CommandError):
        check_name("x" * 65)
    assert check_name("kindness-v2") == "kindness-v2"


def test_diff_uses_stable_keys() -> None:
    old = [ClauseText(1, "c1", "A"), ClauseText(2, "c2", "B"), ClauseText(3, "c3", "C")]
    new = [ClauseText(1, "c1", "A"), ClauseText(2, "c3", "C2"), ClauseText(3, "c4", "D")]
    out = diff_clauses(old, new)
    assert out == ["~ 2. C2  [was: C] [c3]", "+ 3. D  [added, c4]", "- 2. B  [removed, c2]"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("48h", timedelta(hours=48)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_span(text, "review duration") == expected


@pytest.mark.parametrize("bad", ["-3h", "forever", "", "3", "0m", "61d", "h"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(CommandError):
        parse_span(bad, "review duration")


def test_thresholds() -> None:
    assert parse_threshold(">1/2") == (Fraction(1, 2), False)
    assert parse_threshold(">=2/3") == (Fraction(2, 3), True)
    assert parse_threshold("≥60%") == (Fraction(3, 5), True)
    for bad in ("half", ">2", "1/0", ">1"):
        with pytest.raises(CommandError):
            parse_threshold(bad)


def test_threshold_strict_and_inclusive() -> None:
    half = TallyCount(yes=2, no=2, abstain=5)
    assert not half.meets(TallyRule(threshold=Fraction(1, 2)))
    assert half.meets(TallyRule(threshold=Fraction(1, 2), inclusive=True))
    assert not TallyCount(0, 0, 3).meets(TallyRule(threshold=Fraction(0), inclusive=True))


def test_quorum_takes_the_larger_of_count_and_share() -> None:
    assert quorum_needed(TallyRule(quorum_count=3, quorum_share=0.5), participants=10) == 5
    assert quorum_needed(TallyRule(quorum_count=3, quorum_share=0.1), participants=10) == 3
