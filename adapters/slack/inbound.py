"""Slack request bodies → core commands: pure functions of the body as Slack sends it (the plain
dict Bolt hands a listener), tested without Bolt. The Bolt listeners (adapter.py) ack, find out
whether the member is a moderator (a Web API call), call these, dispatch and answer.

Slash commands are one level (`/policy show kind`, `/round open …`): the command and its text are
read by the core's text parser (bot.inbound.parser), which answers bad input with the usage.
Buttons are read by the core's button templates (bot.inbound.actions). Reactions become
RecordReaction whose platform event key is Slack's event_id, so a retried delivery is counted once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.slack.chat import message_key, stance_for_reaction
from adapters.slack.help import SLACK_COMMANDS
from adapters.slack.modals import AMEND, OPEN_ROUND, amend_command, amend_view, channel_of, open_round_command, open_round_view
from bot.domain.commands import Actor, Command, RecordReaction
from bot.errors import CommandError
from bot.inbound.actions import command_for_action
from bot.inbound.parser import parse

Body = dict[str, Any]
View = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Member:
    """Who sent a request: the workspace, the user, and the name Slack gave."""

    team: str
    user: str
    name: str = ""

    def actor(self, is_moderator: bool) -> Actor:
        return Actor("slack", self.team, self.user, self.name, is_moderator)


@dataclass(frozen=True, slots=True)
class Press:
    """One button press of a block_actions request."""

    custom_id: str
    event_key: str


# ---------------------------------------------------------------- slash commands


def unescape(text: str) -> str:
    """Slack sends a command's text with &, < and > escaped (&amp; &lt; &gt;); the core wants what was typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def command_line(command: str, text: str) -> str:
    """The Slack command and its text as the core's text form; /policybot [topic] is /help [topic].
    A line break counts as a space between words (`/policy create kind⏎1. …`) and is kept in the text."""
    text = unescape(text).replace("\r\n", "\n").replace("\n", " \n").strip()
    if command == "/policybot":
        topic = text.removeprefix("help").strip()
        return f"/help {topic}".strip()
    return f"{command} {text}".strip()


def slash_member(body: Body) -> Member:
    return Member(str(body.get("team_id", "")), str(body.get("user_id", "")), str(body.get("user_name", "")))


def slash_form(body: Body) -> View | None:
    """The modal a slash command opens instead of an answer: `/round open` alone opens the round form,
    `/amend` alone or `/amend propose [round]` the amendment form; None for every other command."""
    words = command_line(str(body.get("command", "")), str(body.get("text", ""))).split()
    channel = str(body.get("channel_id", ""))
    if words == ["/round", "open"]:
        return open_round_view(channel)
    if words == ["/amend"] or words[:2] == ["/amend", "propose"]:
        round_id = int(words[2]) if len(words) > 2 and words[2].isdigit() else None
        return amend_view(channel, round_id)
    return None


def slash_command(body: Body, actor: Actor) -> Command:
    """A slash command's text through the core's parser; the trigger_id is its event key, so a replayed
    request acts once. CommandError (with the usage) for anything that does not parse."""
    line = command_line(str(body.get("command", "")), str(body.get("text", "")))
    key = f"slack:command:{body.get('trigger_id', '')}"
    return parse(line, actor, str(body.get("channel_id", "")), event_key=key, commands=SLACK_COMMANDS)


def moderators_setting(body: Body) -> str | None:
    """`/policybot moderators [group]`, the adapter's own command: the words after `moderators`
    (what was typed, unescaped); None for every other command."""
    if body.get("command") != "/policybot":
        return None
    word, _, rest = unescape(str(body.get("text", ""))).strip().partition(" ")
    return rest.strip() if word.lower() == "moderators" else None


# ---------------------------------------------------------------- buttons and modals (interactivity)


def interaction_member(body: Body) -> Member:
    """The member of a block_actions or view_submission request."""
    user = body.get("user") or {}
    team = str((body.get("team") or {}).get("id") or user.get("team_id", ""))
    return Member(team, str(user.get("id", "")), str(user.get("name") or user.get("username") or ""))


def presses(body: Body) -> list[Press]:
    """The button presses of a block_actions request, each with an event key of its own."""
    user = str((body.get("user") or {}).get("id", ""))
    return [
        Press(str(action.get("action_id", "")), f"slack:action:{user}:{action.get('action_ts') or body.get('trigger_id', '')}")
        for action in body.get("actions") or []
    ]


def press_command(press: Press, actor: Actor) -> Command:
    """The command a press on a policybot button is (CommandError for a button that is not, or no longer, one)."""
    return command_for_action(press.custom_id, actor, press.event_key)


def submission_command(body: Body, actor: Actor) -> Command:
    """A submitted modal read into its command; FormErrors names the fields that cannot be read."""
    view: View = body.get("view") or {}
    callback = view.get("callback_id")
    if callback == OPEN_ROUND:
        return open_round_command(view, actor)
    if callback == AMEND:
        return amend_command(view, actor)
    raise CommandError("That form is not one of policybot's, or is out of date.")


def request_channel(body: Body) -> str:
    """The channel a slash command or a button press came from ("" when none: a modal, a DM-less event)."""
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return str(channel or "")


def submission_channel(body: Body) -> str:
    """The channel the form was opened from, where a public answer goes."""
    return channel_of(body.get("view") or {})


# ---------------------------------------------------------------- reactions (Events API)


def reaction_command(body: Body, bot_user_id: str | None) -> RecordReaction | None:
    """A reaction_added / reaction_removed event as a stance on the message; None for the bot's own
    seeded reactions, emoji that are not a stance, and reactions on anything but a message."""
    event = body.get("event") or {}
    user = str(event.get("user", ""))
    item = event.get("item") or {}
    stance = stance_for_reaction(str(event.get("reaction", "")))
    if not user or user == bot_user_id or stance is None or item.get("type") != "message":
        return None
    return RecordReaction(
        Actor("slack", str(body.get("team_id", "")), user),
        stance,
        event_key=f"slack:{body.get('event_id', '')}",
        message_key=message_key(str(item.get("channel", "")), str(item.get("ts", ""))),
        removed=event.get("type") == "reaction_removed",
    )


def reaction_channel(body: Body) -> str:
    return str(((body.get("event") or {}).get("item") or {}).get("channel", ""))
