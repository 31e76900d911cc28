"""Post and Reply → Discord messages, within Discord's limits, never pinging anyone.

Limits (https://discord.com/developers/docs/resources/message#create-message and the embed limits):
2,000 characters of message content, 4,096 of embed description, 256 of title and field name,
1,024 of field value, 25 fields, 6,000 characters across an embed, 10 embeds, 5 buttons a row."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace

import discord

from bot.domain.outputs import Attachment, Button, Field, Post, Reply, cut, render_times, split_text, strip_time_tokens, utc_text

CONTENT_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
TITLE_LIMIT = 256
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_PER_EMBED = 25
EMBED_TOTAL_LIMIT = 6000
EMBED_BUDGET = EMBED_TOTAL_LIMIT - 100  # room for the footer
BUTTON_LABEL_LIMIT = 80
THREAD_NAME_LIMIT = 100
BUTTONS_PER_ROW = 5
ROWS_PER_MESSAGE = 5

NO_MENTIONS = discord.AllowedMentions.none()

_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}
_COLOURS = {
    "round": discord.Colour.blurple(),
    "round_scenario": discord.Colour.dark_teal(),
    "candidate": discord.Colour.light_grey(),
    "amendment": discord.Colour.gold(),
}


def discord_times(text: str) -> str:
    """The core's neutral time tokens as Discord timestamps, shown in each member's own time zone."""
    return render_times(text, lambda epoch: f"<t:{epoch}:f>")


def plain_times(text: str) -> str:
    """Time tokens as UTC text, for where Discord renders no timestamp (embed titles, field names):
    the core keeps times out of titles, and one that slips through still reads as a date."""
    return render_times(text, utc_text)


@dataclass
class OutMessage:
    """One Discord message to send: content and/or one embed, and optionally buttons and a file."""

    content: str | None = None
    embed: discord.Embed | None = None
    buttons: tuple[Button, ...] = ()
    attachment: Attachment | None = None


def _field(f: Field) -> tuple[str, str, bool]:
    name = cut(plain_times(f.name).strip() or "\u200b", FIELD_NAME_LIMIT)
    value = cut(discord_times(f.value).strip() or "—", FIELD_VALUE_LIMIT)
    return name, value, f.inline


def embeds_for(title: str, text: str, fields: tuple[Field, ...], colour: discord.Colour | None = None) -> list[discord.Embed]:
    """One or more embeds showing the whole text and every field: the first carries the title; any
    text beyond one description continues in further embeds, and fields fill what room is left."""
    title = cut(plain_times(title).strip() or "\u200b", TITLE_LIMIT)
    chunks = split_text(discord_times(text), DESCRIPTION_LIMIT) if text.strip() else []
    embeds: list[discord.Embed] = [discord.Embed(title=title, description=chunks[0] if chunks else None, colour=colour)]
    for i, chunk in enumerate(chunks[1:], 2):
        embeds.append(
            discord.Embed(
                title=cut(f"{title} (continued, part {i}/{len(chunks)})", TITLE_LIMIT), description=chunk, colour=colour
            )
        )
    current = embeds[-1]  # fields follow the text, in order, in as many embeds as they need
    for name, value, inline in (_field(f) for f in fields):
        if len(current.fields) >= FIELDS_PER_EMBED or len(current) + len(name) + len(value) > EMBED_BUDGET:
            current = discord.Embed(title=cut(f"{title} (continued)", TITLE_LIMIT), colour=colour)
            embeds.append(current)
        current.add_field(name=name, value=value, inline=inline)
    if len(embeds) > 1:
        embeds[0].set_footer(text=f"Continued below ({len(embeds)} parts).")
    return embeds


_MASKED = re.compile(r"[\[\]]")  # [text](url): a masked link, which would hide where it leads
_HEADING = re.compile(r"(?m)^([ \t>]*)(#{1,3}[ \t]|-#[ \t])")  # # heading, -# subtext


def escape_untrusted(text: str) -> str:
    """Member or model text made inert for Discord Markdown: no masked links (the brackets are
    escaped, so the text and the address both show as written), no headings or subtext, and no time
    token of ours (only the core writes those)."""
    text = strip_time_tokens(text)
    text = _MASKED.sub(lambda m: "\\" + m.group(0), text)
    return _HEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def untrusted_post(post: Post) -> Post:
    if not post.untrusted:
        return post
    fields = tuple(Field(escape_untrusted(f.name), escape_untrusted(f.value), f.inline) for f in post.fields)
    return replace(post, title=strip_time_tokens(post.title), text=escape_untrusted(post.text), fields=fields)


def messages_for_post(post: Post) -> list[OutMessage]:
    """The messages a Post becomes. The first one is the post's message (its key, reactions, buttons
    and thread); further ones continue an over-long text."""
    post = untrusted_post(post)
    colour = _COLOURS.get(post.subject.kind) if post.subject else None
    embeds = embeds_for(post.title, post.text, post.fields, colour)
    if post.attachment is not None and post.attachment.mime.startswith("image/"):
        embeds[0].set_image(url=f"attachment://{post.attachment.filename}")  # a chart shows inside its post
    out = [OutMessage(embed=e) for e in embeds]
    out[0].buttons = post.buttons[: BUTTONS_PER_ROW * ROWS_PER_MESSAGE]
    out[0].attachment = post.attachment
    return out


def messages_for_reply(reply: Reply) -> list[OutMessage]:
    """A command's answer as plain content (split at 2,000 characters), its fields as an embed, and
    its file as an attachment. A very long answer is sent as a text file instead of a flood."""
    mark = "" if reply.ok else "⚠️ "
    text = discord_times(mark + reply.text.strip()) or "Done."
    pieces = split_text(text, CONTENT_LIMIT)
    attachment = reply.attachment
    if len(pieces) > 4 and attachment is None:
        attachment = Attachment("reply.txt", text.encode("utf-8"), "text/plain")
        pieces = [cut(pieces[0], CONTENT_LIMIT - 60).rstrip("…") + "…\n(the full answer is in the attached file)"]
    out = [OutMessage(content=p) for p in pieces]
    if reply.fields:
        for e in embeds_for("Details", "", reply.fields):
            out.append(OutMessage(embed=e))
    out[-1].attachment = attachment
    return out


def to_file(attachment: Attachment) -> discord.File:
    return discord.File(io.BytesIO(attachment.data), filename=attachment.filename)


def button_style(style: str) -> discord.ButtonStyle:
    return _STYLES.get(style, discord.ButtonStyle.secondary)
