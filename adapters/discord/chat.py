"""The ChatPort on Discord: posts become embeds (split to Discord's limits), threads, seeded
reactions and persistent buttons; private replies go to the member's latest interaction while its
token is valid, else to a direct message.

Message keys are "{channel_id}:{message_id}". A thread started from a message has the message's
id, so a Post whose thread_parent is "{channel}:{message}" is sent to channel {message}."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Literal

import discord

from adapters.discord.components import view_for
from adapters.discord.render import (
    NO_MENTIONS,
    THREAD_NAME_LIMIT,
    OutMessage,
    messages_for_post,
    messages_for_reply,
    to_file,
)
from bot.domain.commands import Actor
from bot.domain.model import STANCE_EMOJI
from bot.domain.outputs import Attachment, Post, Reply, cut
from bot.ports import ChatRefused, Refusal

log = logging.getLogger("policybot.discord")

THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week: rounds last days, so threads should not archive mid-round
INTERACTION_TOKEN_SECONDS = 14 * 60  # Discord keeps an interaction token valid for 15 minutes


# What a round needs in its channel: its posts, their threads, the seeded reactions, the embeds.
NEEDED: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
    ("add_reactions", "Add Reactions"),
    ("read_message_history", "Read Message History"),
    ("create_public_threads", "Create Public Threads"),
    ("send_messages_in_threads", "Send Messages in Threads"),
)
NEEDED_NAMES = tuple(name for _, name in NEEDED)
MISSING_ACCESS = 50001  # Discord's JSON error codes
THREAD_ALREADY_STARTED = 160004


def nonce_for(delivery_key: str, part: int) -> str | None:
    """A stable nonce (at most 25 characters) for part `part` of an outbox post, so Discord returns
    the message it already has when the same post is delivered again within its window."""
    if not delivery_key:
        return None
    return hashlib.blake2b(f"{delivery_key}#{part}".encode(), digest_size=12).hexdigest()


def message_key(channel_id: int, message_id: int) -> str:
    return f"{channel_id}:{message_id}"


def parse_key(key: str) -> tuple[int, int]:
    channel, _, message = key.partition(":")
    if not channel.isdigit() or not message.isdigit():
        raise ValueError(f"not a Discord message key: {key!r}")
    return int(channel), int(message)


class DiscordChat:
    def __init__(self, client: discord.Client) -> None:
        self.client = client
        # (guild id, member id) → (the member's latest interaction, when it arrived)
        self._interactions: dict[tuple[str, str], tuple[discord.Interaction[Any], float]] = {}

    # ------------------------------------------------------------ sending

    def _target(self, channel_id: int) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id)

    async def _send(self, channel_id: int, m: OutMessage, nonce: str | None = None) -> discord.Message:
        view = view_for(m.buttons)
        kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
        if m.content:
            kwargs["content"] = m.content
        if m.embed is not None:
            kwargs["embed"] = m.embed
        if view is not None:
            kwargs["view"] = view
        if m.attachment is not None:
            kwargs["file"] = to_file(m.attachment)
        if nonce is not None:  # discord.py sends it with enforce_nonce: a repeat returns the first message
            kwargs["nonce"] = nonce
        try:
            return await self._target(channel_id).send(**kwargs)
        except discord.Forbidden as e:
            raise ChatRefused(self.refusal(channel_id, e)) from e

    async def post(self, post: Post, *, delivery_key: str = "") -> str:
        channel_id = parse_key(post.thread_parent)[1] if post.thread_parent else int(post.channel)
        messages = messages_for_post(post)
        first = await self._send(channel_id, messages[0], nonce_for(delivery_key, 0))
        rest_channel = channel_id
        if post.start_thread:
            rest_channel = await self._thread(channel_id, first.id, post.start_thread)
        for stance in post.seed_reactions:  # a missing seed reaction is not worth losing the post over
            try:
                await first.add_reaction(STANCE_EMOJI[stance])
            except discord.HTTPException as e:
                log.warning("could not seed %s on %s:%s: %s", stance.value, channel_id, first.id, e)
        for i, m in enumerate(messages[1:], 1):
            await self._send(rest_channel, m, nonce_for(delivery_key, i))
        return message_key(channel_id, first.id)

    async def _thread(self, channel_id: int, message_id: int, name: str) -> int:
        """The thread under a message, started now, or found when a repeated delivery started it before."""
        try:
            thread = await self.client.http.start_thread_with_message(
                channel_id, message_id, name=cut(name, THREAD_NAME_LIMIT), auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.Forbidden as e:
            raise ChatRefused(self.refusal(channel_id, e, threads=True)) from e
        except discord.HTTPException as e:
            if e.code != THREAD_ALREADY_STARTED:
                raise
            return message_id  # a thread started from a message has the message's id
        return int(thread["id"])  # the continuation of a long scenario goes into its thread

    # ------------------------------------------------------------ can the bot post here?

    def _channel_name(self, channel_id: int) -> str:
        channel = self.client.get_channel(channel_id)
        name = getattr(channel, "name", None)
        return f"#{name}" if name else f"<#{channel_id}>"

    def refusal(self, channel_id: int, error: discord.HTTPException, *, threads: bool = False) -> Refusal:
        where = self._channel_name(channel_id)
        if error.code == MISSING_ACCESS:
            return Refusal(
                f"policybot cannot see {where} (Discord: Missing Access)",
                f"add policybot to {where} (its role needs View Channel there)",
            )
        needed = "Create Public Threads and Send Messages in Threads" if threads else ", ".join(NEEDED_NAMES)
        return Refusal(
            f"policybot lacks a permission in {where} (Discord: {error.text or 'Missing Permissions'})",
            f"grant policybot {needed} in {where} (Server Settings → Roles, or the channel's Permissions)",
        )

    async def can_post(self, actor: Actor, channel: str) -> Refusal | None:
        """The bot's permissions in the channel: Discord sends them with every interaction
        (app_permissions), so the member's latest one from that channel answers without a request."""
        found = self._interactions.get((actor.community, actor.member))
        if found is None or str(found[0].channel_id) != channel:
            return None  # not known here: the first post will tell
        perms = found[0].app_permissions
        missing = [name for flag, name in NEEDED if not getattr(perms, flag)]
        if not missing:
            return None
        where = self._channel_name(int(channel))
        listed = ", ".join(missing)
        return Refusal(
            f"policybot lacks {listed} in {where}",
            f"grant policybot {listed} in {where} (Server Settings → Roles, or the channel's Permissions)",
        )

    async def edit(self, message_key: str, post: Post) -> None:
        channel_id, message_id = parse_key(message_key)
        first = messages_for_post(post)[0]
        message = self._target(channel_id).get_partial_message(message_id)
        await message.edit(embed=first.embed, view=view_for(first.buttons), allowed_mentions=NO_MENTIONS)

    async def upload(self, channel: str, attachment: Attachment, text: str = "", *, community: str = "") -> str:
        m = OutMessage(content=cut(text, 2000) if text else None, attachment=attachment)
        sent = await self._send(int(channel), m)
        return message_key(int(channel), sent.id)

    # ------------------------------------------------------------ private replies

    def remember(self, actor: Actor, interaction: discord.Interaction[Any]) -> None:
        self._interactions[(actor.community, actor.member)] = (interaction, time.monotonic())

    async def reply_privately(self, actor: Actor, reply: Reply) -> None:
        found = self._interactions.get((actor.community, actor.member))
        if found is not None and time.monotonic() - found[1] < INTERACTION_TOKEN_SECONDS:
            await send_followups(found[0], reply)
            return
        try:
            dm = await self.client.create_dm(discord.Object(int(actor.member)))
            for m in messages_for_reply(reply):
                await self._send(dm.id, m)
        except (discord.HTTPException, ValueError) as e:
            log.warning("could not reach member %s privately: %s", actor.member, e)


async def send_followups(interaction: discord.Interaction[Any], reply: Reply) -> None:
    """The answer to an interaction that was deferred (ephemerally): private follow-ups, or, for a
    public reply, a note in the private slot and the answer itself as a public follow-up."""
    messages = messages_for_reply(reply)
    limit = interaction.filesize_limit
    for m in messages:
        if m.attachment is not None and len(m.attachment.data) > limit:
            note = (
                f"\n(The file {m.attachment.filename} is {len(m.attachment.data):,} bytes, more than the "
                f"{limit:,} Discord accepts here; the `policybot export` command on the bot's host writes it to disk.)"
            )
            m.content = cut((m.content or "") + note, 2000)
            m.attachment = None
    ephemeral = not reply.public
    if reply.public:
        await interaction.edit_original_response(content="Posted in the channel.", allowed_mentions=NO_MENTIONS)
    for m in messages:
        kwargs: dict[str, Any] = {"ephemeral": ephemeral, "allowed_mentions": NO_MENTIONS}
        if m.content:
            kwargs["content"] = m.content
        if m.embed is not None:
            kwargs["embed"] = m.embed
        if m.attachment is not None:
            kwargs["file"] = to_file(m.attachment)
        await interaction.followup.send(**kwargs)
