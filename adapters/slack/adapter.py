"""Slack's requests in through Bolt, and the core's Reply out as a private response.

Every listener acknowledges at once (Bolt's `ack`, which becomes the HTTP response or the Socket
Mode envelope ack) and does everything else in a task of its own started after the ack, so
Slack's 3-second window is never at risk however slow the database, the Web API or the model are.
What a request means is read by the pure functions of adapters/slack/inbound.py; the listeners here
only ack, look up the member's moderator right, dispatch and answer."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import inbound
from adapters.slack.chat import SlackChat
from adapters.slack.inbound import Body, Member
from adapters.slack.modals import AMEND, OPEN_ROUND, FormErrors
from adapters.slack.moderators import SlackModerators
from bot.bootstrap import App
from bot.domain.commands import Actor, Command
from bot.domain.outputs import Reply, internal_error
from bot.errors import CommandError
from bot.inbound.actions import PREFIX

log = logging.getLogger("policybot.slack")

# The slash commands policybot registers (slack-manifest.yml lists the same); /policybot is help.
COMMANDS = (
    "/policy",
    "/scenario",
    "/round",
    "/amend",
    "/vote",
    "/stress",
    "/reminders",
    "/export",
    "/privacy",
    "/policybot",
    "/try",  # precedents and /try
    "/precedent",
    "/react",  # a stance with a reason (an emoji reaction cannot carry one)
    "/unreact",
)
EVENTS = ("reaction_added", "reaction_removed")  # the bot events it subscribes to (slack-manifest.yml too)
ACTIONS = re.compile("^" + re.escape(PREFIX))  # every button template of the core's one list
NOBODY = Actor("slack", "", "")  # reading a form in its ack, before the member is looked up
# Requests whose slow work runs at once; the rest wait their turn. The slow work shares the event
# loop with Bolt's acknowledgements: a burst of 200 requests would otherwise start 200 lazy
# listeners that all compete with the acks still to be sent, and Slack gives up after 3 s.
SLOW_WORK_AT_ONCE = 8
# … and it starts only once no request has been acknowledged for a moment (a burst is acked
# first), or after a second at most, however busy Slack keeps us.
ACKS_QUIET_FOR = 0.005
ACKS_FIRST_AT_MOST = 1.0


class SlackAdapter:
    def __init__(self, app: App, bolt: AsyncApp, chat: SlackChat, moderators: SlackModerators) -> None:
        self.app = app
        self.bolt = bolt
        self.chat = chat
        self.moderators = moderators
        self.handled = 0  # requests whose slow work has finished (tests and the bench wait on it)
        self.in_flight = 0
        self._changed = asyncio.Condition()
        self._slow_work = asyncio.Semaphore(SLOW_WORK_AT_ONCE)
        self._last_ack = 0.0  # the event loop's clock at the latest acknowledgement
        self._acks_quiet = asyncio.Event()  # set once no request has been acknowledged for a moment
        self._acks_quiet.set()
        self._quiet_check: asyncio.TimerHandle | None = None  # one timer for all waiting work
        self._later_tasks: set[asyncio.Task[None]] = set()

    def register(self) -> None:
        for name in COMMANDS:
            self.bolt.command(name)(self._on_command)
        self.bolt.action(ACTIONS)(self._on_action)
        for form in (OPEN_ROUND, AMEND):
            self.bolt.view(form)(self._on_form)
        for event in EVENTS:
            self.bolt.event(event)(self._on_reaction)

    # ------------------------------------------------------------ listeners: acknowledge, then the slow work later
    # The slow work is our own task started after the ack, not a Bolt lazy listener: Bolt deep-copies
    # and parses each request again for its lazy listeners before it answers, which in a burst of
    # requests delays every acknowledgement still to be sent.

    async def _on_command(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await self._ack(ack)
        self._later(self.run_command(body, client))

    async def _on_action(self, ack: AsyncAck, body: Body) -> None:
        await self._ack(ack)
        self._later(self.run_action(body))

    async def _on_form(self, ack: AsyncAck, body: Body) -> None:
        await self._ack_form(ack, body)
        self._later(self.run_form(body))

    async def _on_reaction(self, ack: AsyncAck, body: Body, context: dict[str, Any]) -> None:
        await self._ack(ack)
        self._later(self.run_reaction(body, {"bot_user_id": context.get("bot_user_id")}))

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._later_tasks.add(task)  # kept until done: the loop holds tasks only weakly
        task.add_done_callback(self._later_tasks.discard)

    # ------------------------------------------------------------ acknowledgements (fast: no I/O)

    async def _ack(self, ack: AsyncAck) -> None:
        loop = asyncio.get_running_loop()
        self._last_ack = loop.time()
        self._acks_quiet.clear()
        if self._quiet_check is None:
            self._quiet_check = loop.call_later(ACKS_QUIET_FOR, self._check_quiet)
        await ack()

    async def _ack_form(self, ack: AsyncAck, body: Body) -> None:
        """A form whose fields cannot be read is answered in the modal, at once; a readable one closes."""
        try:
            inbound.submission_command(body, NOBODY)
        except FormErrors as e:
            await ack(response_action="errors", errors=e.errors)
            return
        except CommandError:
            pass  # said privately by the lazy listener
        await self._ack(ack)

    # ------------------------------------------------------------ bookkeeping of the slow work

    @contextlib.asynccontextmanager
    async def _work(self) -> AsyncIterator[None]:
        async with self._changed:
            self.in_flight += 1
        try:
            await self._acks_first()
            async with self._slow_work:
                yield
        except Exception:
            log.exception("slack request failed")
        finally:
            async with self._changed:
                self.in_flight -= 1
                self.handled += 1
                self._changed.notify_all()

    def _check_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        quiet_at = self._last_ack + ACKS_QUIET_FOR
        if loop.time() >= quiet_at:
            self._quiet_check = None
            self._acks_quiet.set()
        else:  # acknowledged meanwhile: look again when that one has been quiet long enough
            self._quiet_check = loop.call_at(quiet_at, self._check_quiet)

    async def _acks_first(self) -> None:
        """Wait (one event for all the waiting work, not a timer each) until acknowledgements have
        been quiet for a moment, or ACKS_FIRST_AT_MOST at most."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ACKS_FIRST_AT_MOST):
                await self._acks_quiet.wait()

    async def wait_handled(self, count: int) -> None:
        """Wait until `count` requests in all have had their slow work done."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.handled >= count)

    async def wait_idle(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight == 0)

    # ------------------------------------------------------------ actors

    async def actor(self, member: Member) -> Actor:
        return member.actor(await self.moderators.is_moderator(member.team, member.user))

    async def _dispatch(self, build: Callable[[], Command]) -> Reply:
        try:
            return await self.app.engine.dispatch(build())
        except CommandError as e:
            return Reply(e.message, ok=False)
        except Exception:
            log.exception("slack command failed")
            return internal_error()

    # ------------------------------------------------------------ slash commands

    async def run_command(self, body: Body, client: AsyncWebClient) -> None:
        async with self._work():
            view = inbound.slash_form(body)
            if view is not None:
                await self._open_modal(body, client, view)
                return
            actor = await self.actor(inbound.slash_member(body))
            self.chat.remember(actor, body.get("response_url"), inbound.request_channel(body))
            setting = inbound.moderators_setting(body)
            if setting is not None:  # the adapter's own command: who counts as a moderator on Slack
                await self._answer(body, actor, await self.moderators.command(actor.community, actor.member, setting))
                return
            reply = await self._dispatch(lambda: inbound.slash_command(body, actor))
            await self._answer(body, actor, reply)

    async def _open_modal(self, body: Body, client: AsyncWebClient, view: inbound.View) -> None:
        who = inbound.slash_member(body)
        actor = Actor("slack", who.team, who.user)
        self.chat.remember(actor, body.get("response_url"), inbound.request_channel(body))
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=view)
        except SlackApiError as e:
            log.warning("views.open failed: %s", e.response.get("error"))
            await self._answer(body, actor, Reply("The form could not be opened; please try again.", ok=False))

    async def _answer(self, body: Body, actor: Actor, reply: Reply) -> None:
        url = body.get("response_url")
        self.chat.remember(actor, str(url) if url else None, inbound.request_channel(body))
        await self.chat.reply_privately(
            actor, reply, response_url=str(url) if url else None, channel=inbound.request_channel(body)
        )

    # ------------------------------------------------------------ buttons

    async def run_action(self, body: Body) -> None:
        async with self._work():
            actor = await self.actor(inbound.interaction_member(body))
            for press in inbound.presses(body):
                reply = await self._dispatch(functools.partial(inbound.press_command, press, actor))
                await self._answer(body, actor, reply)

    # ------------------------------------------------------------ modals

    async def run_form(self, body: Body) -> None:
        async with self._work():
            actor = await self.actor(inbound.interaction_member(body))
            try:
                cmd = inbound.submission_command(body, actor)
            except FormErrors:
                return  # shown in the modal by the ack
            except CommandError as e:
                await self.chat.reply_privately(actor, Reply(e.message, ok=False))
                return
            reply = await self._dispatch(lambda: cmd)
            channel = inbound.submission_channel(body)
            if reply.public and channel:
                await self.chat.post_reply(actor.community, channel, reply)
            await self.chat.reply_privately(actor, reply)

    # ------------------------------------------------------------ reactions

    async def run_reaction(self, body: Body, context: dict[str, Any]) -> None:
        async with self._work():
            cmd = inbound.reaction_command(body, context.get("bot_user_id"))
            if cmd is None:
                return
            reply = await self.app.engine.dispatch(cmd)
            log.debug("reaction %s: %s", cmd.event_key, reply.text)
            if not reply.ok and "not a candidate" not in reply.text:  # say so only for reactions on candidates
                await self.chat.ephemeral(inbound.reaction_channel(body), cmd.actor, reply)
