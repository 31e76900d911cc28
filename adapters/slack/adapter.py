"""Slack payload → core command, and the core's Reply → a private response.

Every listener acknowledges at once (Bolt's `ack`, which becomes the HTTP response or the Socket
Mode envelope ack) and does everything else in a lazy listener that Bolt starts after the ack, so
Slack's 3-second window is never at risk however slow the database, the Web API or the model are.

Slash commands are one level (`/policy show kind`, `/round open …`): the command and its text are
read by the core's text parser (bot.inbound.parser), which answers bad input with the usage. Reactions
become RecordReaction whose platform event key is Slack's event_id, so a retried delivery (Slack
re-sends an event it thinks was not acknowledged) is counted once by the core's unique key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.chat import SlackChat, message_key, stance_for_reaction
from adapters.slack.modals import (
    AMEND,
    OPEN_ROUND,
    FormErrors,
    amend_command,
    amend_view,
    channel_of,
    open_round_command,
    open_round_view,
)
from adapters.slack.moderators import SlackModerators
from bot.bootstrap import App
from bot.domain.commands import Actor, Command, RecordReaction
from bot.domain.outputs import Reply, internal_error
from bot.errors import CommandError
from bot.inbound.actions import command_for_action
from bot.inbound.parser import parse

log = logging.getLogger("policybot.slack")

# The slash commands policybot registers (slack-manifest.yml lists the same); /policybot is help.
COMMANDS = ("/policy", "/scenario", "/round", "/amend", "/vote", "/stress", "/reminders", "/export", "/privacy", "/policybot")
EVENTS = ("reaction_added", "reaction_removed")  # the bot events it subscribes to (slack-manifest.yml too)
ACTIONS = re.compile(r"^policybot:")

Body = dict[str, Any]


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


class SlackAdapter:
    def __init__(self, app: App, bolt: AsyncApp, chat: SlackChat, moderators: SlackModerators) -> None:
        self.app = app
        self.bolt = bolt
        self.chat = chat
        self.moderators = moderators
        self.handled = 0  # requests whose slow work has finished (tests and the bench wait on it)
        self.in_flight = 0
        self._changed = asyncio.Condition()

    def register(self) -> None:
        for name in COMMANDS:
            self.bolt.command(name)(ack=self._ack, lazy=[self.run_command])
        self.bolt.action(ACTIONS)(ack=self._ack, lazy=[self.run_action])
        self.bolt.view(OPEN_ROUND)(ack=self._ack_open_round, lazy=[self.run_open_round])
        self.bolt.view(AMEND)(ack=self._ack_amend, lazy=[self.run_amend])
        for event in EVENTS:
            self.bolt.event(event)(ack=self._ack, lazy=[self.run_reaction])

    # ------------------------------------------------------------ acknowledgements (fast: no I/O)

    @staticmethod
    async def _ack(ack: AsyncAck) -> None:
        await ack()

    @staticmethod
    async def _ack_open_round(ack: AsyncAck, body: Body) -> None:
        try:
            open_round_command(body["view"], Actor("slack", "", ""))
        except FormErrors as e:
            await ack(response_action="errors", errors=e.errors)
            return
        await ack()

    @staticmethod
    async def _ack_amend(ack: AsyncAck, body: Body) -> None:
        try:
            amend_command(body["view"], Actor("slack", "", ""))
        except FormErrors as e:
            await ack(response_action="errors", errors=e.errors)
            return
        await ack()

    # ------------------------------------------------------------ bookkeeping of the slow work

    @contextlib.asynccontextmanager
    async def _work(self) -> AsyncIterator[None]:
        async with self._changed:
            self.in_flight += 1
        try:
            yield
        except Exception:
            log.exception("slack request failed")
        finally:
            async with self._changed:
                self.in_flight -= 1
                self.handled += 1
                self._changed.notify_all()

    async def wait_handled(self, count: int) -> None:
        """Wait until `count` requests in all have had their slow work done."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.handled >= count)

    async def wait_idle(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight == 0)

    # ------------------------------------------------------------ actors

    async def actor(self, team: str, user: str, name: str = "") -> Actor:
        return Actor("slack", team, user, name, await self.moderators.is_moderator(user))

    async def _dispatch(self, build: Callable[[], Command | Awaitable[Command]]) -> Reply:
        try:
            made = build()
            cmd = await made if isinstance(made, Awaitable) else made
            return await self.app.engine.dispatch(cmd)
        except CommandError as e:
            return Reply(e.message, ok=False)
        except Exception:
            log.exception("slack command failed")
            return internal_error()

    # ------------------------------------------------------------ slash commands

    async def run_command(self, body: Body, client: AsyncWebClient) -> None:
        async with self._work():
            command, text = str(body.get("command", "")), str(body.get("text", ""))
            line = command_line(command, text)
            channel = str(body.get("channel_id", ""))
            words = line.split()
            if words in (["/round", "open"], ["/amend"]) or words[:2] == ["/amend", "propose"]:
                await self._open_modal(body, client, line, channel)
                return
            actor = await self.actor(str(body.get("team_id", "")), str(body.get("user_id", "")), str(body.get("user_name", "")))
            self.chat.remember(actor, body.get("response_url"), used=1)  # the answer below is its first use
            key = f"slack:command:{body.get('trigger_id', '')}"
            reply = await self._dispatch(lambda: parse(line, actor, channel, event_key=key))
            await self._answer(body, actor, reply)

    async def _open_modal(self, body: Body, client: AsyncWebClient, line: str, channel: str) -> None:
        words = line.split()
        if words[0] == "/round":
            view = open_round_view(channel)
        else:
            round_id = int(words[2]) if len(words) > 2 and words[2].isdigit() else None
            view = amend_view(channel, round_id)
        team, user = str(body.get("team_id", "")), str(body.get("user_id", ""))
        self.chat.remember(Actor("slack", team, user), body.get("response_url"))
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=view)
        except SlackApiError as e:
            log.warning("views.open failed: %s", e.response.get("error"))
            await self._answer(
                body, Actor("slack", team, user), Reply("The form could not be opened; please try again.", ok=False)
            )

    async def _answer(self, body: Body, actor: Actor, reply: Reply) -> None:
        url = body.get("response_url")
        if url:
            await self.chat.respond(str(url), reply)
            if reply.attachment is not None:
                await self.chat.send_file_privately(actor, reply.attachment)
        else:
            await self.chat.reply_privately(actor, reply)

    # ------------------------------------------------------------ buttons

    async def run_action(self, body: Body) -> None:
        async with self._work():
            user = body.get("user") or {}
            team = str((body.get("team") or {}).get("id") or user.get("team_id", ""))
            actor = await self.actor(team, str(user.get("id", "")), str(user.get("name") or user.get("username") or ""))
            for action in body.get("actions") or []:
                custom_id = str(action.get("action_id", ""))
                key = f"slack:action:{actor.member}:{action.get('action_ts') or body.get('trigger_id', '')}"
                reply = await self._dispatch(lambda cid=custom_id, k=key: command_for_action(cid, actor, k))  # type: ignore[misc]
                await self._answer(body, actor, reply)

    # ------------------------------------------------------------ modals

    async def _run_form(self, body: Body, read: Callable[[dict[str, Any], Actor], Command]) -> None:
        user = body.get("user") or {}
        team = str((body.get("team") or {}).get("id") or user.get("team_id", ""))
        actor = await self.actor(team, str(user.get("id", "")), str(user.get("name") or user.get("username") or ""))
        try:
            cmd = read(body["view"], actor)
        except FormErrors:
            return  # shown in the modal by the ack
        reply = await self._dispatch(lambda: cmd)
        await self._reply_for_form(actor, channel_of(body["view"]), reply)

    async def _reply_for_form(self, actor: Actor, channel: str, reply: Reply) -> None:
        if reply.public and channel:
            await self.chat.post_reply(channel, reply)
        await self.chat.reply_privately(actor, reply)

    async def run_open_round(self, body: Body) -> None:
        async with self._work():
            await self._run_form(body, open_round_command)

    async def run_amend(self, body: Body) -> None:
        async with self._work():
            await self._run_form(body, amend_command)

    # ------------------------------------------------------------ reactions

    async def run_reaction(self, body: Body, context: dict[str, Any]) -> None:
        async with self._work():
            event = body.get("event") or {}
            user = str(event.get("user", ""))
            if not user or user == context.get("bot_user_id"):
                return  # the bot's own seeded reactions never count
            item = event.get("item") or {}
            stance = stance_for_reaction(str(event.get("reaction", "")))
            if stance is None or item.get("type") != "message":
                return
            actor = Actor("slack", str(body.get("team_id", "")), user)
            cmd = RecordReaction(
                actor,
                stance,
                event_key=f"slack:{body.get('event_id', '')}",
                message_key=message_key(str(item.get("channel", "")), str(item.get("ts", ""))),
                removed=event.get("type") == "reaction_removed",
            )
            reply = await self.app.engine.dispatch(cmd)
            log.debug("reaction %s: %s", cmd.event_key, reply.text)
            if not reply.ok and "not a candidate" not in reply.text:  # say so only for reactions on candidates
                await self.chat.ephemeral(str(item.get("channel", "")), actor, reply)
