"""Rendering within Discord's limits, emoji → stance, event keys and the invite URL (no network)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import discord

from adapters.discord.adapter import event_key_for, stance_for_emoji
from adapters.discord.invite import application_id_from_token, invite_url, required_permissions
from adapters.discord.render import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELDS_PER_EMBED,
    messages_for_post,
    messages_for_reply,
)
from bot.domain.model import Stance
from bot.domain.outputs import Attachment, Field, Post, Reply, split_text, time_token


def test_split_keeps_every_word_and_respects_the_limit() -> None:
    words = [f"word{i}" for i in range(3000)]
    text = " ".join(words)
    pieces = split_text(text, 2000)
    assert all(0 < len(p) <= 2000 for p in pieces)
    assert " ".join(pieces).split() == words
    assert split_text("x" * 4500, 2000) == ["x" * 2000, "x" * 2000, "x" * 500]  # no space to break at: cut hard
    assert split_text("short", 2000) == ["short"]


def test_long_post_is_split_into_embeds_within_limits() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "lorem ipsum " * 60 for i in range(20))  # ~15,000 characters
    fields = tuple(Field(f"name {i}" * 40, "v" * 2000) for i in range(30))
    out = messages_for_post(Post("1", "T" * 300, text, fields))
    embeds = [m.embed for m in out]
    assert all(e is not None for e in embeds)
    assert len(out) >= 4
    for e in embeds:
        assert e is not None
        assert len(e.title or "") <= 256
        assert len(e.description or "") <= DESCRIPTION_LIMIT
        assert len(e.fields) <= FIELDS_PER_EMBED
        assert len(e) <= EMBED_TOTAL_LIMIT
        assert all(len(f.name or "") <= 256 and len(f.value or "") <= 1024 for f in e.fields)
    joined = " ".join(e.description or "" for e in embeds if e is not None)
    assert joined.split() == text.split()
    assert sum(len(e.fields) for e in embeds if e is not None) == 30


def test_time_tokens_become_timestamps_where_discord_renders_them_and_utc_text_elsewhere() -> None:
    from datetime import UTC, datetime

    from bot.domain.outputs import Field

    moment = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    token, stamp = time_token(moment), f"<t:{int(moment.timestamp())}:f>"
    post = Post("1", f"Vote until {token}", f"Ends {token}", (Field(f"From {token}", f"until {token}"),))
    embed = messages_for_post(post)[0].embed
    assert embed is not None
    # Discord renders <t:…> in descriptions and field values only: a token that slips into a title or
    # a field name reads as a UTC date there, never as raw markup
    assert embed.title == "Vote until 2026-11-24 12:00 UTC"
    assert embed.description == f"Ends {stamp}"
    assert (embed.fields[0].name, embed.fields[0].value) == ("From 2026-11-24 12:00 UTC", f"until {stamp}")
    long = messages_for_post(Post("1", f"Round {token}", "word " * 2000))
    assert all("<t:" not in (m.embed.title or "") for m in long if m.embed is not None)


def test_long_reply_is_split_then_attached() -> None:
    assert [len(m.content or "") <= CONTENT_LIMIT for m in messages_for_reply(Reply("a " * 1500))] == [True, True]
    huge = messages_for_reply(Reply("b " * 10_000))
    assert len(huge) == 1 and huge[0].attachment is not None and huge[0].attachment.filename == "reply.txt"
    assert huge[0].attachment.data.decode().split() == ["b"] * 10_000
    with_file = messages_for_reply(Reply("here", attachment=Attachment("x.csv", b"a,b\n")))
    assert with_file[-1].attachment is not None and with_file[-1].attachment.filename == "x.csv"
    assert (messages_for_reply(Reply("nope", ok=False))[0].content or "").startswith("⚠️")


def test_emoji_map_to_stances() -> None:
    assert stance_for_emoji(discord.PartialEmoji(name="👍")) == Stance.ENDORSE
    assert stance_for_emoji(discord.PartialEmoji(name="👍🏽")) == Stance.ENDORSE  # skin tone
    assert stance_for_emoji(discord.PartialEmoji(name="👎")) == Stance.OBJECT
    assert stance_for_emoji(discord.PartialEmoji(name="🤷‍♀️")) == Stance.PASS  # gendered variant
    assert stance_for_emoji(discord.PartialEmoji(name="⭐")) == Stance.BEST
    assert stance_for_emoji(discord.PartialEmoji(name="🎉")) is None
    assert stance_for_emoji(discord.PartialEmoji(name="thumbsup", id=123)) is None  # a custom emoji


def _raw(kind: str, user: int = 7) -> discord.RawReactionActionEvent:
    data = {"user_id": str(user), "channel_id": "2", "message_id": "3", "guild_id": "1", "burst": False, "type": 0}
    data["emoji"] = {"id": None, "name": "👍"}
    return discord.RawReactionActionEvent(data, discord.PartialEmoji(name="👍"), kind)  # type: ignore[arg-type]


def test_event_key_is_stable_for_a_redelivery_and_new_for_a_new_event() -> None:
    first = event_key_for("sess", 41, _raw("REACTION_ADD"))
    assert first == event_key_for("sess", 41, _raw("REACTION_ADD"))  # the same dispatch, delivered again
    assert first != event_key_for("sess", 44, _raw("REACTION_ADD"))  # removed and added again later
    assert first != event_key_for("other", 41, _raw("REACTION_ADD"))  # a new session restarts numbering
    assert ":remove" in event_key_for("sess", 42, _raw("REACTION_REMOVE"))
    assert len(first) <= 200


def test_invite_url_has_exactly_the_scopes_and_permissions() -> None:
    url = urlparse(invite_url(1300000000000000000))
    q = parse_qs(url.query)
    assert q["scope"] == ["bot applications.commands"]
    perms = discord.Permissions(int(q["permissions"][0]))
    assert perms == required_permissions()
    granted = {name for name, on in perms if on}
    assert granted == {
        "read_messages",
        "send_messages",
        "create_public_threads",
        "send_messages_in_threads",
        "embed_links",
        "attach_files",
        "add_reactions",
        "read_message_history",
        "manage_messages",  # only to take off a reaction the round refused
    }
    assert not perms.administrator and not perms.manage_threads and not perms.mention_everyone
    assert application_id_from_token("MTMwMDAwMDAwMDAwMDAwMDAwMQ.G1abcd.xyz") == 1300000000000000001
    assert application_id_from_token("not a token") is None


def test_a_chart_shows_inside_its_post() -> None:
    chart = Attachment("results.png", b"\x89PNG...", "image/png")
    out = messages_for_post(Post("1", "Round #1: results", "Adopted.", attachment=chart))
    assert out[0].attachment is chart
    assert out[0].embed is not None and out[0].embed.image.url == "attachment://results.png"
    data = messages_for_post(Post("1", "Export", "zip", attachment=Attachment("x.zip", b"PK", "application/zip")))
    assert data[0].embed is not None and data[0].embed.image.url is None


def test_member_and_model_text_cannot_make_links_or_headings() -> None:
    """An untrusted post shows `[Verify your account](https://…)` as written, not as a masked link,
    and neither a heading nor a time token of ours."""
    text = "[Verify your account](https://evil.example/login)\n# URGENT\n-# fine print\nsee ⟦time:1700000000⟧"
    post = Post("1", "Candidate A", text, (Field("Why", "[here](https://evil.example)"),), untrusted=True)
    embed = messages_for_post(post)[0].embed
    assert embed is not None and embed.description is not None
    assert "\\[Verify your account\\](https://evil.example/login)" in embed.description
    assert "\n\\# URGENT" in embed.description and "\n\\-# fine print" in embed.description
    assert "<t:" not in embed.description and "⟦" not in embed.description
    assert embed.fields[0].value == "\\[here\\](https://evil.example)"
    ours = messages_for_post(Post("1", "Round", "ends ⟦time:1700000000⟧ [ok](https://x)"))[0].embed
    assert ours is not None and "<t:1700000000:f>" in (ours.description or "")  # the core's own text is untouched
