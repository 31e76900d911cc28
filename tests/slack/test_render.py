"""Post and Reply → Block Kit: Slack's limits, escaping, times."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from adapters.slack.chat import stance_for_reaction
from adapters.slack.render import (
    BLOCKS_PER_MESSAGE,
    SECTION_LIMIT,
    escape,
    messages_for_post,
    messages_for_reply,
    mrkdwn_chunks,
    texts_of_blocks,
)
from bot.domain.model import Stance
from bot.domain.outputs import Button, Field, Post, Reply, time_token


def sections(blocks: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_every_kind_of_mention_is_inert() -> None:
    text = "<!channel> <!here> <!everyone> <@U123> <!subteam^S1|mods> <#C1> <https://x.example|click> & more"
    out = escape(text)
    assert "<" not in out and ">" not in out
    assert html.unescape(out) == text


def test_long_text_is_split_within_the_section_limit_and_nothing_is_lost() -> None:
    text = " ".join(f"<b>{i}</b> & {'x' * (i % 17)}." for i in range(3000))
    chunks = mrkdwn_chunks(text)
    assert len(chunks) > 10 and all(len(c) <= SECTION_LIMIT for c in chunks)
    assert re.sub(r"\s+", " ", html.unescape(" ".join(chunks))) == text
    # one unbroken 10,000-character word of ampersands: each piece still fits after escaping
    assert all(len(c) <= SECTION_LIMIT for c in mrkdwn_chunks("&" * 10000))


def test_a_post_is_split_into_messages_of_at_most_50_blocks_with_the_buttons_on_the_first() -> None:
    fields = tuple(Field(f"Field {i}", f"value {i} " * 30) for i in range(150))
    buttons = tuple(Button(f"policybot:ballot:{i}:yes", f"Yes {i}") for i in range(30))
    post = Post("C1", "A very long post", text="word " * 5000, fields=fields, buttons=buttons)
    messages = messages_for_post(post)
    assert len(messages) > 3
    assert all(len(m.blocks) <= BLOCKS_PER_MESSAGE for m in messages)
    actions = [b for b in messages[0].blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]  # 25 elements an actions block
    assert not any(b["type"] == "actions" for m in messages[1:] for b in m.blocks)
    shown = " ".join(t for m in messages for t in texts_of_blocks(m.blocks))
    assert all(f"*Field {i}*" in shown for i in range(150))
    assert all("(continued)" in m.text for m in messages[1:])


def test_times_are_slack_dates_with_a_utc_fallback() -> None:
    moment = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    post = Post("C1", "Round", text=f"VOTE until {time_token(moment)} <!here>")
    message = messages_for_post(post)[0]
    body = sections(message.blocks)[1]
    epoch = int(moment.timestamp())
    assert f"<!date^{epoch}^{{date_short_pretty}} {{time}}|2026-12-01 18:00 UTC>" in body
    assert "&lt;!here&gt;" in body


def test_an_error_reply_is_marked_and_escaped() -> None:
    (message,) = messages_for_reply(Reply("No round <#1>", ok=False, fields=(Field("Usage", "/round open <policy>"),)))
    assert sections(message.blocks) == ["⚠️ No round &lt;#1&gt;", "*Usage*\n/round open &lt;policy&gt;"]


def test_reaction_names_map_to_stances() -> None:
    assert stance_for_reaction("+1") is Stance.ENDORSE
    assert stance_for_reaction("thumbsup") is Stance.ENDORSE
    assert stance_for_reaction("+1::skin-tone-4") is Stance.ENDORSE
    assert stance_for_reaction("-1") is Stance.OBJECT
    assert stance_for_reaction("woman-shrugging::skin-tone-2") is Stance.PASS
    assert stance_for_reaction("star") is Stance.BEST
    assert stance_for_reaction("star2") is None and stance_for_reaction("tada") is None


def test_a_time_token_typed_by_a_member_does_not_render_as_a_date() -> None:
    member = Post("C1", "Candidate A", "Meet me ⟦time:1700000000⟧ here", (Field("x", "⟦time:1⟧"),), untrusted=True)
    shown = " ".join(texts_of_blocks(messages_for_post(member)[0].blocks))
    assert "<!date^" not in shown and "⟦" not in shown and "Meet me" in shown
    ours = Post("C1", "Round #1", f"Review ends {time_token(datetime(2026, 1, 1, tzinfo=UTC))}")
    assert "<!date^" in " ".join(texts_of_blocks(messages_for_post(ours)[0].blocks))
