"""The invite URL: exactly the scopes and permissions policybot uses, nothing more."""

from __future__ import annotations

import base64
import binascii

import discord

SCOPES = ("bot", "applications.commands")


def required_permissions() -> discord.Permissions:
    """What the bot does, permission by permission:
    view_channel: see the channel a round is opened in; send_messages: post the announcement and
    the scenarios; create_public_threads: one thread per scenario; send_messages_in_threads: post the
    candidates in it; embed_links: posts are embeds; attach_files: exports and charts;
    add_reactions: seed 👍 👎 🤷 on each candidate; read_message_history: react to and edit its own
    earlier messages; manage_messages: take off a reaction the round refused (a member's 👍 after the
    round closed, or on a post that is not a candidate), so it does not look counted. policybot
    deletes no message with it. Without it a refused reaction stays on and the member is told so.

    Keeping a round's threads open needs nothing more: the bot started them, and a thread's starter
    may unarchive it (a thread a moderator locked stays as the moderator left it)."""
    return discord.Permissions(
        view_channel=True,
        send_messages=True,
        create_public_threads=True,
        send_messages_in_threads=True,
        embed_links=True,
        attach_files=True,
        add_reactions=True,
        read_message_history=True,
        manage_messages=True,
    )


def application_id_from_token(token: str) -> int | None:
    """A bot token's first part is the bot's user id in base64, which is the application id."""
    head = token.strip().split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=False).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(decoded) if decoded.isdigit() else None


def invite_url(application_id: int, guild_id: int | None = None) -> str:
    guild = discord.Object(guild_id) if guild_id is not None else discord.utils.MISSING
    return discord.utils.oauth_url(application_id, permissions=required_permissions(), scopes=SCOPES, guild=guild)


LABELS = {
    "read_messages": "View Channels",
    "send_messages": "Send Messages",
    "create_public_threads": "Create Public Threads",
    "send_messages_in_threads": "Send Messages in Threads",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "add_reactions": "Add Reactions",
    "read_message_history": "Read Message History",
    "manage_messages": "Manage Messages",
}


def permission_names() -> list[str]:
    """The permissions as the Developer Portal and server settings name them."""
    return [LABELS.get(name, name) for name, granted in required_permissions() if granted]
