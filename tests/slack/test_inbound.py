"""Slack bodies → core commands, without Bolt: the pure functions of adapters/slack/inbound.py on plain
dicts shaped like the payloads Slack sends (slash commands, block_actions, view_submission, events)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.slack import inbound
from adapters.slack.help import SLACK_COMMANDS
from adapters.slack.inbound import Member, Press
from adapters.slack.modals import AMEND, OPEN_ROUND, FormErrors, amend_view, open_round_view
from bot.domain import commands as c
from bot.domain.commands import ROUND_DEFAULTS, Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance
from bot.errors import CommandError
from bot.inbound.actions import (
    BUTTON_TEMPLATES,
    accept_stress_case_button,
    ballot_buttons,
    best_button,
    precedent_checks_button,
)

TEAM, USER, CHANNEL = "T0POLICY", "U0ALICE", "C0ROUNDS"
ALICE = Actor("slack", TEAM, USER, "alice", False)
MOD = Actor("slack", TEAM, USER, "alice", True)


def slash(command: str, text: str, **extra: str) -> dict[str, Any]:
    """A slash command as Bolt hands it to a listener: the form fields Slack POSTs, as strings."""
    return {
        "token": "legacy", "team_id": TEAM, "team_domain": "policy", "channel_id": CHANNEL, "channel_name": "rounds",
        "user_id": USER, "user_name": "alice", "command": command, "text": text, "api_app_id": "A0POLICY",
        "is_enterprise_install": "false", "response_url": "https://hooks.slack.com/commands/T0/1/x",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0", **extra,
    }  # fmt: skip


def block_actions(*action_ids: str, action_ts: str | None = "1700000000.000100") -> dict[str, Any]:
    actions = [
        {
            "type": "button",
            "action_id": a,
            "block_id": "policybot-actions-0",
            "value": a,
            **({"action_ts": action_ts} if action_ts else {}),
        }
        for a in action_ids
    ]
    return {
        "type": "block_actions", "api_app_id": "A0POLICY", "token": "legacy", "trigger_id": "trig.123",
        "user": {"id": USER, "username": "alice", "name": "alice", "team_id": TEAM},
        "team": {"id": TEAM, "domain": "policy"}, "channel": {"id": CHANNEL, "name": "rounds"},
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL},
        "response_url": "https://hooks.slack.com/actions/T0/1/x", "actions": actions,
    }  # fmt: skip


def submission(view: dict[str, Any], values: dict[str, str | tuple[str, str]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for block_id, value in values.items():
        if isinstance(value, tuple):
            state[block_id] = {"value": {"type": "static_select", "selected_option": {"value": value[1]}}}
        else:
            state[block_id] = {"value": {"type": "plain_text_input", "value": value}}
    return {
        "type": "view_submission", "team": {"id": TEAM, "domain": "policy"},
        "user": {"id": USER, "username": "alice", "name": "alice", "team_id": TEAM},
        "api_app_id": "A0POLICY", "token": "legacy", "trigger_id": "trig.view",
        "view": {**view, "id": "V0FORM", "team_id": TEAM, "state": {"values": state}},
    }  # fmt: skip


def reaction_event(reaction: str, *, user: str = USER, removed: bool = False, item_type: str = "message") -> dict[str, Any]:
    return {
        "token": "legacy", "team_id": TEAM, "api_app_id": "A0POLICY", "type": "event_callback", "event_id": "Ev0REACT1",
        "event_time": 1700000000, "authorizations": [{"team_id": TEAM, "user_id": "UBOT0001", "is_bot": True}],
        "event": {
            "type": "reaction_removed" if removed else "reaction_added", "user": user, "reaction": reaction,
            "item": {"type": item_type, "channel": CHANNEL, "ts": "1700000000.000200"}, "item_user": "UBOT0001",
            "event_ts": "1700000001.000300",
        },
    }  # fmt: skip


# ---------------------------------------------------------------- slash commands


def test_a_slash_command_is_read_by_the_core_parser_with_its_trigger_id_as_event_key() -> None:
    body = slash("/vote", "3 yes")
    assert inbound.slash_member(body) == Member(TEAM, USER, "alice")
    assert inbound.slash_form(body) is None
    assert inbound.slash_command(body, ALICE) == c.CastBallot(
        ALICE, 3, BallotChoice.YES, event_key="slack:command:13345224609.738474920.8088930838d88f008e0"
    )


def test_escaped_text_over_several_lines_reads_as_typed() -> None:
    body = slash("/policy", "create kind\n1. Be kind &amp; fair.\n2. Never write &lt;!channel&gt;.")
    assert inbound.slash_command(body, MOD) == c.CreatePolicy(MOD, "kind", "1. Be kind & fair. \n2. Never write <!channel>.")


def test_round_open_takes_the_core_defaults_and_its_rule() -> None:
    opened = inbound.slash_command(slash("/round", "open kind scenarios=1,2"), MOD)
    assert isinstance(opened, c.OpenRound) and opened.phase_lengths() == (
        ROUND_DEFAULTS.review,
        ROUND_DEFAULTS.amend,
        ROUND_DEFAULTS.vote,
    )
    assert (opened.k, opened.quorum, opened.threshold) == (ROUND_DEFAULTS.k, ROUND_DEFAULTS.quorum, ROUND_DEFAULTS.threshold)
    with pytest.raises(CommandError, match="not both"):
        inbound.slash_command(slash("/round", "open kind scenarios=1 vote=2h vote-ends=2030-01-01T00:00Z"), MOD)


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [("/policybot", "", "/help"), ("/policybot", "help round", "/help round"), ("/policybot", "amend", "/help amend")],
)
def test_policybot_is_help(command: str, text: str, expected: str) -> None:
    assert inbound.command_line(command, text) == expected
    topic = expected.removeprefix("/help").strip()
    assert inbound.slash_command(slash(command, text), ALICE) == c.Help(ALICE, topic, commands=SLACK_COMMANDS)
    assert inbound.moderators_setting(slash(command, text)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("moderators", ""), ("moderators &lt;!subteam^S0MODS|@mods&gt;", "<!subteam^S0MODS|@mods>"), ("Moderators off", "off")],
)
def test_policybot_moderators_is_the_adapters_own(text: str, expected: str) -> None:
    assert inbound.moderators_setting(slash("/policybot", text)) == expected
    assert inbound.moderators_setting(slash("/policy", text)) is None


def test_bad_text_is_a_command_error_with_the_usage() -> None:
    with pytest.raises(CommandError, match="Usage:"):
        inbound.slash_command(slash("/round", "open kind scenarios=x"), MOD)
    with pytest.raises(CommandError, match="Unknown /policy subcommand"):
        inbound.slash_command(slash("/policy", "frobnicate"), MOD)


def test_a_bare_round_open_or_amend_opens_its_form() -> None:
    assert inbound.slash_form(slash("/round", "open")) == open_round_view(CHANNEL)
    assert inbound.slash_form(slash("/amend", "")) == amend_view(CHANNEL, None)
    assert inbound.slash_form(slash("/amend", "propose 4")) == amend_view(CHANNEL, 4)
    assert inbound.slash_form(slash("/amend", "propose")) == amend_view(CHANNEL, None)
    assert inbound.slash_form(slash("/round", "open kind scenarios=1")) is None
    assert inbound.slash_form(slash("/amend", "list 1")) is None


# ---------------------------------------------------------------- buttons


def test_every_button_template_is_answered() -> None:
    buttons = (*ballot_buttons(5), best_button(6), accept_stress_case_button(7), precedent_checks_button(8))
    assert {t.name for t in BUTTON_TEMPLATES} == {"ballot", "best", "stress-accept", "precedent-checks"}  # one of each below
    body = block_actions(*(b.custom_id for b in buttons))
    assert inbound.interaction_member(body) == Member(TEAM, USER, "alice")
    pressed = inbound.presses(body)
    key = f"slack:action:{USER}:1700000000.000100"
    assert pressed == [Press(b.custom_id, key) for b in buttons]
    assert [inbound.press_command(p, ALICE) for p in pressed] == [
        c.CastBallot(ALICE, 5, BallotChoice.YES, event_key=key),
        c.CastBallot(ALICE, 5, BallotChoice.NO, event_key=key),
        c.CastBallot(ALICE, 5, BallotChoice.ABSTAIN, event_key=key),
        c.RecordReaction(ALICE, Stance.BEST, event_key=key, candidate_id=6),
        c.AcceptStressCase(ALICE, 7),
        c.PrecedentChecks(ALICE, amendment_id=8),
    ]


def test_a_press_without_action_ts_is_keyed_by_its_trigger_id() -> None:
    assert inbound.presses(block_actions("policybot:best:1", action_ts=None)) == [
        Press("policybot:best:1", f"slack:action:{USER}:trig.123")
    ]


def test_a_button_that_is_not_policybots_is_refused_clearly() -> None:
    (press,) = inbound.presses(block_actions("policybot:retired:1"))
    with pytest.raises(CommandError, match="not one of policybot's"):
        inbound.press_command(press, ALICE)


def test_a_member_without_a_team_object_takes_the_users_team() -> None:
    body = block_actions("policybot:best:1")
    del body["team"]
    assert inbound.interaction_member(body).team == TEAM


# ---------------------------------------------------------------- modals


def test_the_round_form_opens_with_the_core_defaults_and_reads_back() -> None:
    view = open_round_view(CHANNEL)
    initial = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"]}
    assert (initial["k"], initial["review"], initial["amend"], initial["vote"], initial["quorum"]) == (
        str(ROUND_DEFAULTS.k),
        ROUND_DEFAULTS.review,
        ROUND_DEFAULTS.amend,
        ROUND_DEFAULTS.vote,
        str(ROUND_DEFAULTS.quorum),
    )
    threshold = next(b for b in view["blocks"] if b["block_id"] == "threshold")
    assert threshold["element"]["initial_option"]["value"] == ROUND_DEFAULTS.threshold
    body = submission(
        view, {"policy": "kind", "scenarios": "1, #2", "k": "3", "quorum": "1", "review": "2h", "threshold": ("select", ">=2/3")}
    )
    assert inbound.submission_channel(body) == CHANNEL
    assert inbound.submission_command(body, MOD) == c.OpenRound(MOD, "kind", CHANNEL, (1, 2), k=3, review="2h", threshold=">=2/3")
    # fields left empty take the core's defaults
    emptied = submission(
        view, {"policy": "kind", "scenarios": "1", "k": "", "quorum": "", "review": "", "threshold": ("select", "")}
    )
    with pytest.raises(FormErrors) as bad:
        inbound.submission_command(emptied, MOD)
    assert set(bad.value.errors) == {"k", "quorum"}  # the number fields are required
    kept = submission(view, {"policy": "kind", "scenarios": "1", "k": "4", "quorum": "1", "review": "", "amend": ""})
    assert inbound.submission_command(kept, MOD) == c.OpenRound(MOD, "kind", CHANNEL, (1,))


def test_a_form_that_cannot_be_read_names_its_fields() -> None:
    body = submission(open_round_view(CHANNEL), {"policy": "two words", "scenarios": "one,two", "k": "2", "quorum": "1"})
    with pytest.raises(FormErrors) as bad:
        inbound.submission_command(body, MOD)
    assert set(bad.value.errors) == {"policy", "scenarios"}
    lost = submission({**open_round_view(CHANNEL), "private_metadata": "not json"}, {"policy": "kind", "scenarios": "1"})
    assert inbound.submission_channel(lost) == ""
    with pytest.raises(FormErrors, match="lost its channel"):
        inbound.submission_command(lost, MOD)


def test_the_amend_form_reads_into_a_proposal() -> None:
    view = amend_view(CHANNEL, 1)
    assert view["callback_id"] == AMEND and json.loads(view["private_metadata"]) == {"channel": CHANNEL}
    body = submission(view, {"round": "1", "kind": ("select", "remove"), "clause": "2", "rationale": "obsolete"})
    assert inbound.submission_command(body, ALICE) == c.ProposeAmendment(ALICE, 1, AmendmentKind.REMOVE, 2, "", "obsolete")
    with pytest.raises(FormErrors, match="clause"):
        inbound.submission_command(submission(view, {"round": "1", "kind": ("select", "replace"), "text": "x"}), ALICE)


def test_a_form_that_is_not_policybots_is_refused() -> None:
    body = submission({**open_round_view(CHANNEL), "callback_id": "someone-else"}, {})
    assert OPEN_ROUND != "someone-else"
    with pytest.raises(CommandError, match="not one of policybot's"):
        inbound.submission_command(body, ALICE)


# ---------------------------------------------------------------- reactions


def test_a_stance_reaction_on_a_message_is_recorded_under_slacks_event_id() -> None:
    added = inbound.reaction_command(reaction_event("+1::skin-tone-3"), "UBOT0001")
    assert added == c.RecordReaction(
        Actor("slack", TEAM, USER), Stance.ENDORSE, event_key="slack:Ev0REACT1", message_key=f"{CHANNEL}:1700000000.000200"
    )
    removed = inbound.reaction_command(reaction_event("star", removed=True), "UBOT0001")
    assert removed is not None and removed.stance == Stance.BEST and removed.removed
    assert inbound.reaction_channel(reaction_event("+1")) == CHANNEL


@pytest.mark.parametrize(
    "body",
    [
        reaction_event("+1", user="UBOT0001"),  # the bot's own seeded reaction
        reaction_event("tada"),  # not a stance
        reaction_event("+1", item_type="file"),  # not on a message
        reaction_event("+1", user=""),
        {"type": "event_callback", "team_id": TEAM},  # no event at all
    ],
)
def test_anything_else_is_no_reaction(body: dict[str, Any]) -> None:
    assert inbound.reaction_command(body, "UBOT0001") is None
