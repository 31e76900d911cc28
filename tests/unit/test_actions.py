"""Button ids: every builder's custom_id is read back by its own template into the command it stands for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import commands as c
from bot.domain.model import BallotChoice, Stance
from bot.errors import CommandError
from bot.inbound.actions import (
    BALLOT,
    BUTTON_TEMPLATES,
    accept_stress_case_button,
    ballot_buttons,
    best_button,
    command_for_action,
    template_of,
)
from tests.conftest import actor

ME = actor("alice")
DISCORD_CUSTOM_ID_LIMIT = 100  # Slack's action_id allows 255


@given(st.integers(min_value=1, max_value=999_999_999_999))
def test_every_builder_is_read_back_into_its_command(n: int) -> None:
    yes, no, abstain = ballot_buttons(n)
    assert [b.label for b in (yes, no, abstain)] == ["Yes", "No", "Abstain"]
    for button, choice in ((yes, BallotChoice.YES), (no, BallotChoice.NO), (abstain, BallotChoice.ABSTAIN)):
        assert command_for_action(button.custom_id, ME, "k") == c.CastBallot(ME, n, choice, event_key="k")
    assert command_for_action(best_button(n).custom_id, ME, "k") == c.RecordReaction(
        ME, Stance.BEST, event_key="k", candidate_id=n
    )
    assert command_for_action(accept_stress_case_button(n).custom_id, ME, "k") == c.AcceptStressCase(ME, n)
    for b in (yes, no, abstain, best_button(n), accept_stress_case_button(n)):
        assert len(b.custom_id) <= DISCORD_CUSTOM_ID_LIMIT
        matching = [t for t in BUTTON_TEMPLATES if t.pattern.fullmatch(b.custom_id)]
        assert matching == [template_of(b.custom_id)]  # exactly one template answers each button


def test_the_ids_are_the_ones_already_on_posted_messages() -> None:
    # messages posted by earlier versions carry these; they must keep working
    assert [b.custom_id for b in ballot_buttons(7)] == [
        "policybot:ballot:7:yes",
        "policybot:ballot:7:no",
        "policybot:ballot:7:abstain",
    ]
    assert best_button(7).custom_id == "policybot:best:7"
    assert accept_stress_case_button(7).custom_id == "policybot:stress:7:accept"


@pytest.mark.parametrize(
    "custom_id",
    [
        "policybot:ballot:1:maybe",
        "policybot:ballot:x:yes",
        "policybot:ballot:1:yes:extra",
        "policybot:best:1234567890123",  # beyond the ids the core writes
        "policybot:best:",
        "policybot:stress:1:reject",
        "policybot:retired:1",
        "somebody-else:best:1",
        " policybot:best:1",
        "",
    ],
)
def test_anything_else_is_refused_clearly(custom_id: str) -> None:
    assert template_of(custom_id) is None
    with pytest.raises(CommandError, match="not one of policybot's"):
        command_for_action(custom_id, ME, "k")


def test_a_builder_refuses_what_its_template_cannot_read() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        BALLOT.custom_id(amendment=1, choice="maybe")
