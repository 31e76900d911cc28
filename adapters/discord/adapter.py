"""Interaction and gateway event → core command, and the core's Reply → a private follow-up.

Every interaction is deferred at once (ephemeral, "thinking"), before anything else is looked up,
so Discord's 3-second acknowledgement window is never at risk; the engine runs after that and the
answer follows. Reactions become RecordReaction with a platform event key that a gateway resume
re-delivers unchanged (see event_key_for)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from adapters.discord.chat import DiscordChat, message_key, send_followups
from adapters.discord.moderators import ModeratorRoles
from bot.bootstrap import App
from bot.domain.commands import Actor, Command, RecordReaction
from bot.domain.model import EMOJI_STANCE, Stance
from bot.domain.outputs import Reply, internal_error
from bot.errors import CommandError
from bot.inbound.actions import command_for_action

log = logging.getLogger("policybot.discord")

TOLD_KEPT = 10_000  # (member, refusal) pairs remembered, so each is explained once
Build = Callable[[Actor], Command | Awaitable[Command]]
_SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)} | {"\ufe0f"}


def stance_for_emoji(emoji: discord.PartialEmoji) -> Stance | None:
    """👍 👎 🤷 ⭐ (any skin tone, gender or presentation variant) → a stance; custom and other emoji → None."""
    if emoji.id is not None or not emoji.name:
        return None
    name = unicodedata.normalize("NFC", emoji.name)
    head = name.split("\u200d", 1)[0]  # 🤷‍♀️ is 🤷 + zero-width joiner + ♀: the person is the stance
    base = "".join(ch for ch in head if ch not in _SKIN_TONES)
    return EMOJI_STANCE.get(base) or EMOJI_STANCE.get(name)


def interaction_key(interaction: discord.Interaction[Any]) -> str:
    """The platform event key of a command or a press: Discord's interaction id, so a redelivery acts once."""
    return f"discord:interaction:{interaction.id}"


def with_request_key(cmd: Command, interaction: discord.Interaction[Any]) -> Command:
    """The command carrying the interaction's id as its request key, so a redelivered interaction
    acts once and gets its first answer again. Reactions (/react, /unreact, the ⭐ button) carry the
    same id as their event key instead, which the reaction log deduplicates."""
    if isinstance(cmd, RecordReaction):
        return cmd
    return dataclasses.replace(cmd, request_key=interaction_key(interaction))


def event_key_for(session_id: str | None, sequence: int | None, payload: discord.RawReactionActionEvent) -> str:
    """The platform event key of a reaction event: the gateway session and the dispatch's sequence
    number, which a resume re-delivers unchanged, plus what the event is about (for reading the
    logs). A member who removes and adds the same emoji again gets a new sequence number, so a
    genuine re-add is a new event; a redelivered one is the same key and is counted once."""
    action = "add" if payload.event_type == "REACTION_ADD" else "remove"
    where = f"{payload.message_id}:{payload.user_id}:{payload.emoji.name}:{action}"
    return f"discord:{session_id}:{sequence}:{where}"[:200]


class DiscordAdapter:
    def __init__(self, app: App, client: discord.Client, chat: DiscordChat) -> None:
        self.app = app
        self.client = client
        self.chat = chat
        self.moderators = ModeratorRoles(app.engine.services.uow)
        self.handled = 0  # interactions and reaction events fully handled (tests and logs wait on it)
        self._told: OrderedDict[tuple[str, str, str], None] = OrderedDict()  # refusals explained already
        self._cannot_remove: set[int | None] = set()  # servers where the bot lacks Manage Messages (logged once)
        self._handled_changed = asyncio.Condition()

    # ------------------------------------------------------------ actors

    async def actor_for(self, interaction: discord.Interaction[Any]) -> Actor:
        if interaction.guild_id is None:
            raise CommandError("policybot works inside a server, not in direct messages.")
        user = interaction.user
        return Actor(
            "discord",
            str(interaction.guild_id),
            str(user.id),
            user.display_name,
            await self.moderators.is_moderator(interaction),
        )

    # ------------------------------------------------------------ commands and buttons

    async def run(self, interaction: discord.Interaction[Any], build: Build) -> None:
        """Defer at once, then build the command, dispatch it, and follow up with the reply."""
        try:
            await self._run(interaction, build)
        finally:
            await self._bump()

    async def _run(self, interaction: discord.Interaction[Any], build: Build) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            actor = await self.actor_for(interaction)
            self.chat.remember(actor, interaction)
            made = build(actor)
            cmd = await made if isinstance(made, Awaitable) else made
            reply = await self.app.engine.dispatch(with_request_key(cmd, interaction))
        except CommandError as e:
            reply = Reply(e.message, ok=False)
        except Exception:
            log.exception("interaction %s failed", interaction.id)
            reply = internal_error()
        await send_followups(interaction, reply)

    async def answer(self, interaction: discord.Interaction[Any], compute: Callable[[], Awaitable[Reply]]) -> None:
        """For the adapter's own commands (settings, help): defer at once, compute the reply, follow up."""
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                reply = await compute()
            except Exception:
                log.exception("interaction %s failed", interaction.id)
                reply = internal_error()
            await send_followups(interaction, reply)
        finally:
            await self._bump()

    async def press(self, interaction: discord.Interaction[Any], custom_id: str) -> None:
        """A press on any policybot button: the interaction id is the event key, so a redelivered press counts once."""
        await self.run(interaction, lambda actor: command_for_action(custom_id, actor, interaction_key(interaction)))

    # ------------------------------------------------------------ reactions

    async def on_reaction(self, payload: discord.RawReactionActionEvent, event_key: str) -> None:
        try:
            await self._reaction(payload, event_key)
        except Exception:
            log.exception("reaction event %s failed", event_key)
        finally:
            await self._bump()

    async def _reaction(self, payload: discord.RawReactionActionEvent, event_key: str) -> None:
        if payload.guild_id is None:
            return
        me = self.client.user
        if me is not None and payload.user_id == me.id:
            return  # the bot's own seeded reactions never count
        stance = stance_for_emoji(payload.emoji)
        if stance is None:
            return
        name = payload.member.display_name if payload.member is not None else ""
        actor = Actor("discord", str(payload.guild_id), str(payload.user_id), name, False)
        cmd = RecordReaction(
            actor,
            stance,
            event_key=event_key,
            message_key=message_key(payload.channel_id, payload.message_id),
            removed=payload.event_type == "REACTION_REMOVE",
        )
        reply = await self.app.engine.dispatch(cmd)
        log.debug("reaction %s: %s", event_key, reply.text)
        if not reply.ok and not cmd.removed and me is not None and payload.message_author_id == me.id:
            await self._refused(actor, payload, reply)

    async def _refused(self, actor: Actor, payload: discord.RawReactionActionEvent, reply: Reply) -> None:
        """A reaction the core refused on one of the bot's own posts (the round is over, the message is
        not a candidate): taken off, so it does not look counted, and explained to the member privately,
        once per member and reason. A reaction on a member's own message is never touched."""
        taken_off = await self._take_off(payload)
        told = (actor.community, actor.member, reply.text)
        if told in self._told:
            return
        self._told[told] = None
        while len(self._told) > TOLD_KEPT:
            self._told.popitem(last=False)
        where = f"<#{payload.channel_id}>"
        after = (
            " It was taken off."
            if taken_off
            else f" policybot cannot take it off (it lacks Manage Messages in {where}); you can remove it yourself."
        )
        await self.chat.reply_privately(actor, Reply(f"Your {payload.emoji} was not counted: {reply.text}{after}", ok=False))

    async def _take_off(self, payload: discord.RawReactionActionEvent) -> bool:
        """Remove a member's reaction (needs Manage Messages); False where Discord does not permit it."""
        message = self.client.get_partial_messageable(payload.channel_id).get_partial_message(payload.message_id)
        try:
            await message.remove_reaction(payload.emoji, discord.Object(payload.user_id))
        except discord.Forbidden:
            if payload.guild_id not in self._cannot_remove:
                self._cannot_remove.add(payload.guild_id)
                log.warning("server %s: refused reactions stay on (grant policybot Manage Messages)", payload.guild_id)
            return False
        except discord.HTTPException as e:
            log.warning("could not take off a refused reaction on %s: %s", payload.message_id, e)
            return False
        return True

    async def _bump(self) -> None:
        async with self._handled_changed:
            self.handled += 1
            self._handled_changed.notify_all()

    async def wait_handled(self, count: int) -> None:
        """Wait until `count` interactions and reaction events have been handled in all."""
        async with self._handled_changed:
            await self._handled_changed.wait_for(lambda: self.handled >= count)
