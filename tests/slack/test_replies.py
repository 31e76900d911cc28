"""Long private replies within what a response_url takes (5 uses in 30 minutes): packed into few
messages, then chat.postEphemeral, then a direct message, in order; and a loud log when all fail.
Real slack_sdk clients against the fake Slack."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.chat import RESPONSE_URL_USES, SlackChat, retry_handlers
from adapters.slack.installations import OneWorkspace
from adapters.slack.pacing import SlackPacing
from adapters.slack.render import messages_for_reply, texts_of_blocks
from bot.domain.commands import Actor
from bot.domain.outputs import Reply
from tests.slack.conftest import FAST
from tests.slack.fake_slack import BOT_TOKEN, TEAM, FakeSlack

ALICE = Actor("slack", TEAM, "UALICE", "alice")
CHANNEL = "C0ROUNDS"


def long_reply(chunks: int) -> Reply:
    """A reply of `chunks` paragraphs of ~2,900 characters (each its own section block), numbered."""
    return Reply("\n\n".join(f"Paragraph {i:03d}. " + "word " * 578 for i in range(chunks)))


def arrived(fake: FakeSlack, token: str) -> list[str]:
    """The paragraph numbers each route delivered (in the messages' blocks), in the order they arrived."""
    ephemeral = [c.args for c in fake.calls_to("chat.postEphemeral") if c.args["channel"] not in fake.ephemeral_refused]
    bodies = [*fake.responses.get(token, []), *ephemeral]
    bodies += [m for m in fake.posted() if m["channel"].startswith("D")]
    return [n for b in bodies for n in re.findall(r"Paragraph (\d{3})\.", " ".join(texts_of_blocks(b["blocks"])))]


@pytest.fixture
async def chat(fake: FakeSlack) -> AsyncIterator[SlackChat]:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=retry_handlers())
    yield SlackChat(OneWorkspace(client), SlackPacing(FAST))


async def test_a_thirty_chunk_reply_takes_few_response_url_uses(fake: FakeSlack, chat: SlackChat) -> None:
    reply = long_reply(30)
    url = fake.response_url("thirty")
    chat.remember(ALICE, url, CHANNEL)
    await chat.reply_privately(ALICE, reply, response_url=url)
    assert 1 < len(fake.response_posts) <= RESPONSE_URL_USES
    assert fake.calls_to("chat.postEphemeral") == [] and fake.calls_to("chat.postMessage") == []
    assert arrived(fake, "thirty") == [f"{i:03d}" for i in range(30)]
    for body in fake.responses["thirty"]:  # each message within Slack's limits
        assert len(body["blocks"]) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in body["blocks"] if "text" in b)


async def test_what_the_budget_cannot_carry_goes_by_chat_post_ephemeral_in_order(fake: FakeSlack, chat: SlackChat) -> None:
    reply = long_reply(150)  # more than five messages, even packed to Slack's limits
    messages = messages_for_reply(reply)
    assert len(messages) > RESPONSE_URL_USES
    url = fake.response_url("long")
    chat.remember(ALICE, url, CHANNEL)
    await chat.reply_privately(ALICE, reply, response_url=url)
    assert len(fake.response_posts) == RESPONSE_URL_USES  # never a sixth try
    ephemeral = fake.calls_to("chat.postEphemeral")
    assert len(ephemeral) == len(messages) - RESPONSE_URL_USES
    assert all(c.args["channel"] == CHANNEL and c.args["user"] == "UALICE" for c in ephemeral)
    assert arrived(fake, "long") == [f"{i:03d}" for i in range(150)]
    # a later private reply to her does not use the spent response_url either
    await chat.reply_privately(ALICE, Reply("Your ballot is in."))
    assert len(fake.response_posts) == RESPONSE_URL_USES and len(fake.calls_to("chat.postEphemeral")) == len(ephemeral) + 1


async def test_an_expired_response_url_falls_back(fake: FakeSlack, chat: SlackChat) -> None:
    fake.expired.add("old")
    url = fake.response_url("old")
    chat.remember(ALICE, url, CHANNEL)
    await chat.reply_privately(ALICE, long_reply(30), response_url=url)
    assert fake.response_posts == ["old"]  # tried once, refused (404 expired_url), never again
    assert arrived(fake, "old") == [f"{i:03d}" for i in range(30)]
    assert fake.calls_to("chat.postEphemeral")


async def test_then_a_direct_message_and_a_loud_log_when_nothing_reaches_her(
    fake: FakeSlack, chat: SlackChat, caplog: pytest.LogCaptureFixture
) -> None:
    fake.expired.add("gone")
    fake.ephemeral_refused.add(CHANNEL)
    url = fake.response_url("gone")
    chat.remember(ALICE, url, CHANNEL)
    await chat.reply_privately(ALICE, long_reply(30), response_url=url)
    assert fake.calls_to("conversations.open") and arrived(fake, "gone") == [f"{i:03d}" for i in range(30)]
    assert all(m["channel"] == "DALICE" for m in fake.posted())
    fake.dm_refused.add("UALICE")
    with caplog.at_level(logging.WARNING, logger="policybot.slack"):
        await chat.reply_privately(ALICE, Reply("Recorded your stance on candidate #3."))
    lost = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lost) == 1 and "UALICE" in lost[0] and "LOST" in lost[0] and "messages 1-1 of 1" in lost[0], lost
    assert "Recorded your stance" in lost[0] and "chat.postEphemeral" in lost[0] and "direct message" in lost[0]
