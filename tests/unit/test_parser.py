"""The text command parser: known commands parse; anything else is a CommandError, never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance, Turn
from bot.errors import CommandError
from bot.inbound.help import USAGE
from bot.inbound.parser import parse

ME = Actor("console", "c", "alice", "Alice", True)


def p(line: str) -> c.Command:
    return parse(line, ME, "general", read_file=lambda path: f"1. from {path}")


def test_commands_parse() -> None:
    assert p("/policy create kind 1. A\\n2. B") == c.CreatePolicy(ME, "kind", "1. A\n2. B")
    assert p("/policy create kind --file rules.md") == c.CreatePolicy(ME, "kind", "1. from rules.md")
    assert p("/policy show kind v2") == c.ShowPolicy(ME, "kind", 2)
    assert p("/policy diff kind 1 2") == c.DiffPolicy(ME, "kind", 1, 2)
    assert p("/scenario add user: hi || assistant: hello || user: why?") == c.AddScenario(
        ME, (Turn("user", "hi"), Turn("assistant", "hello"), Turn("user", "why?"))
    )
    assert p("/round open kind scenarios=1,2 k=3 review=1h threshold=>=2/3 quorum=2") == c.OpenRound(
        ME, "kind", "general", (1, 2), k=3, review="1h", threshold=">=2/3", quorum=2
    )
    assert p("/amend replace 1 3 New text -- because") == c.ProposeAmendment(
        ME, 1, AmendmentKind.REPLACE, 3, "New text", "because"
    )
    assert p("/amend add 1 after=2 Be brief") == c.ProposeAmendment(ME, 1, AmendmentKind.ADD, 2, "Be brief", "")
    assert p("/amend remove 1 2 -- obsolete") == c.ProposeAmendment(ME, 1, AmendmentKind.REMOVE, 2, "", "obsolete")
    assert p("/vote 4 Abstain") == c.CastBallot(ME, 4, BallotChoice.ABSTAIN)
    r = p("/react 7 best clear and kind")
    assert isinstance(r, c.RecordReaction) and r.stance == Stance.BEST and r.reason == "clear and kind"


@pytest.mark.parametrize(
    "line",
    [
        "hello",
        "/nope",
        "/policy",
        "/policy show",
        "/round open",
        "/round open a b",
        "/round open kind scenarios=x",
        "/round open kind color=red",
        "/vote 1 maybe",
        "/react 1 love",
        "/amend replace 1 x text",
        "/amend remove 1 2 extra words",
        "/scenario remove 99999999999999",
        "/round status -",
    ],
)
def test_bad_lines_get_usage(line: str) -> None:
    with pytest.raises(CommandError):
        p(line)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        result = p(text)
    except CommandError as e:
        assert e.message
    else:
        assert isinstance(result, c.Command)


COMMANDS = st.sampled_from(["/policy", "/scenario", "/round", "/amend", "/vote", "/react", "/unreact", "/help"])
SUBS = st.sampled_from(
    [
        "create",
        "show",
        "history",
        "diff",
        "list",
        "add",
        "remove",
        "import",
        "open",
        "status",
        "advance",
        "cancel",
        "respond",
        "replace",
        "withdraw",
        "",
        "yes",
    ]
)
WORDS = st.lists(
    st.one_of(
        st.text(max_size=12),
        st.integers(-5, 10**13).map(str),
        st.sampled_from(["k=", "scenarios=1,", "--", "after=", "v", "=", "--file"]),
    ),
    max_size=6,
)


@settings(max_examples=600, deadline=None)
@given(COMMANDS, SUBS, WORDS)
def test_near_miss_commands_never_crash(cmd: str, sub: str, words: list[str]) -> None:
    try:
        parse(" ".join([cmd, sub, *words]), ME, "general", read_file=None)
    except CommandError as e:
        assert e.message


# ---------------------------------------------------------------- /round open: one set of defaults, one rule


def test_round_open_leaves_out_what_is_not_given_and_takes_the_core_defaults() -> None:
    opened = p("/round open kind scenarios=1")
    d = c.ROUND_DEFAULTS
    assert opened == c.OpenRound(ME, "kind", "general", (1,))
    assert isinstance(opened, c.OpenRound)
    assert opened.phase_lengths() == (d.review, d.amend, d.vote)
    assert (opened.k, opened.quorum, opened.quorum_share, opened.threshold, opened.bridging_min_voters, opened.reminders) == (
        d.k, d.quorum, d.quorum_share, d.threshold, d.bridging_min_voters, d.reminders
    )  # fmt: skip
    every = p(
        "/round open kind scenarios=2,3 version=v2 k=3 review=1h amend=2h vote=3h quorum=4 quorum-share=0.5 "
        "threshold=>=2/3 bridging=5 reminders=none"
    )
    assert every == c.OpenRound(
        ME, "kind", "general", (2, 3), version=2, k=3, review="1h", amend="2h", vote="3h", quorum=4, quorum_share=0.5,
        threshold=">=2/3", bridging_min_voters=5, reminders="none",
    )  # fmt: skip
    assert isinstance(every, c.OpenRound) and every.phase_lengths() == ("1h", "2h", "3h")


@pytest.mark.parametrize("phase", ["review", "amend", "vote"])
def test_a_phase_is_given_a_length_or_an_end_time_not_both(phase: str) -> None:
    with pytest.raises(CommandError, match="not both") as refused:
        p(f"/round open kind scenarios=1 {phase}=2h {phase}-ends=2030-01-01T00:00Z")
    assert "Usage:" in refused.value.message
    ends = p(f"/round open kind scenarios=1 {phase}-ends=2030-01-01T00:00Z")
    assert isinstance(ends, c.OpenRound)
    lengths = dict(zip(("review", "amend", "vote"), ends.phase_lengths(), strict=True))
    assert lengths[phase] == getattr(c.ROUND_DEFAULTS, phase)  # unused: the end time decides
    # the rule is the command's own, whoever builds it (Discord options, the Slack form)
    given: dict[str, Any] = {phase: "2h", f"{phase}_ends": "2030-01-01T00:00Z"}
    both = c.OpenRound(ME, "kind", "general", (1,), **given)
    with pytest.raises(CommandError, match=f"The {phase} phase was given a length"):
        both.phase_lengths()


def test_the_usage_names_the_core_defaults() -> None:
    d = c.ROUND_DEFAULTS
    for shown in (f"[k={d.k}]", f"[review={d.review}]", f"[amend={d.amend}]", f"[vote={d.vote}]", f"[quorum={d.quorum}]"):
        assert shown in USAGE["round"]
