"""The ChatPort on Slack: posts become Block Kit messages (split to Slack's limits), threads,
seeded stance reactions and buttons; private replies go to the member's latest response_url while
Slack still accepts it (30 minutes, 5 uses), else to their direct messages with the app; files go
up with files_upload_v2.

Message keys are "{channel}:{ts}". A Post whose thread_parent is "{channel}:{ts}" is sent with
thread_ts={ts}: Slack threads are the replies to a message, so every scenario's post is the parent
of its candidates' thread.

Every call uses the token of the workspace it concerns (adapters/slack/installations.py): a post's
`community`, a member's Actor.community."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.installations import TOKEN_GONE, Workspaces, not_installed
from adapters.slack.render import OutMessage, messages_for_post, messages_for_reply, plain
from bot.domain.commands import Actor
from bot.domain.model import Stance
from bot.domain.outputs import Attachment, Post, Reply
from bot.ports import ChatRefused, Refusal

log = logging.getLogger("policybot.slack")

# Slack's names for the stance emoji (the core's neutral 👍 👎 🤷 ⭐).
STANCE_REACTION: dict[Stance, str] = {Stance.ENDORSE: "+1", Stance.OBJECT: "-1", Stance.PASS: "shrug", Stance.BEST: "star"}
REACTION_STANCE: dict[str, Stance] = {
    "+1": Stance.ENDORSE,
    "thumbsup": Stance.ENDORSE,
    "-1": Stance.OBJECT,
    "thumbsdown": Stance.OBJECT,
    "shrug": Stance.PASS,
    "man-shrugging": Stance.PASS,
    "woman-shrugging": Stance.PASS,
    "person_shrugging": Stance.PASS,
    "star": Stance.BEST,
}
RESPONSE_URL_SECONDS = 29 * 60  # Slack accepts a response_url for 30 minutes …
RESPONSE_URL_USES = 5  # … and 5 times

# Never let a member's or the model's text turn into a mention or a link preview.
SAFE: dict[str, Any] = {"link_names": False, "parse": "none", "unfurl_links": False, "unfurl_media": False}


def stance_for_reaction(name: str) -> Stance | None:
    """Slack's emoji name (with any skin tone) → a stance; other emoji → None."""
    return REACTION_STANCE.get(name.split("::", 1)[0])


def refusal_for(error: str, channel: str) -> Refusal | None:
    """A Web API error a moderator can fix, in Slack's words and with the fix; None for the others."""
    where = f"<#{channel}>"
    if error in ("not_in_channel", "channel_not_found"):
        return Refusal(
            f"policybot is not a member of {where} (Slack: {error})",
            f"invite @policybot to {where} (type /invite @policybot there; a private channel is invisible to it until then)",
        )
    if error == "is_archived":
        return Refusal(f"{where} is archived (Slack: is_archived)", f"unarchive {where}, or open the round in another channel")
    if error in ("restricted_action", "restricted_action_read_only_channel", "ekm_access_denied"):
        return Refusal(
            f"the workspace does not let policybot post in {where} (Slack: {error})",
            f"let apps post in {where} (the channel's posting permissions), or open the round in another channel",
        )
    return None


def message_key(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def parse_key(key: str) -> tuple[str, str]:
    channel, _, ts = key.partition(":")
    if not channel or not ts:
        raise ValueError(f"not a Slack message key: {key!r}")
    return channel, ts


def retry_handlers() -> list[AsyncRetryHandler]:
    """Connection errors and rate limits (429, waiting Retry-After) are retried, so no message is lost."""
    return [AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=5)]


def refused(workspaces: Workspaces, team: str, channel: str, e: SlackApiError) -> ChatRefused | None:
    """A Web API error a moderator can fix (the channel's, or the workspace's token gone), as a refusal."""
    error = str(e.response.get("error", ""))
    if error in TOKEN_GONE:
        workspaces.forget(team)
        return ChatRefused(not_installed(team, error))
    refusal = refusal_for(error, channel)
    return ChatRefused(refusal) if refusal is not None else None


class SlackChat:
    def __init__(self, workspaces: Workspaces) -> None:
        self.workspaces = workspaces
        # (team, member) → [response_url, when it arrived, times used]
        self._responders: dict[tuple[str, str], list[Any]] = {}

    # ------------------------------------------------------------ sending

    async def _client(self, team: str) -> AsyncWebClient:
        return await self.workspaces.client(team)

    async def _send(self, team: str, channel: str, m: OutMessage, thread_ts: str | None) -> str:
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        client = await self._client(team)
        try:
            response = await client.chat_postMessage(channel=channel, text=m.text, blocks=m.blocks, **SAFE, **extra)
        except SlackApiError as e:
            refusal = refused(self.workspaces, team, channel, e)
            if refusal is not None:
                raise refusal from e
            raise
        return str(response["ts"])

    async def can_post(self, actor: Actor, channel: str) -> Refusal | None:
        """Slack says whether the bot is a member of the channel (conversations.info → is_member);
        slash commands work in any channel, posts only where the bot was invited."""
        try:
            client = await self._client(actor.community)
            response = await client.conversations_info(channel=channel)
        except ChatRefused as e:
            return e.refusal
        except SlackApiError as e:
            refusal = refused(self.workspaces, actor.community, channel, e)
            if refusal is None:
                log.warning("conversations.info for %s failed: %s; posting will tell", channel, e.response.get("error"))
            return refusal.refusal if refusal is not None else None
        info = response.get("channel") or {}
        name = f"#{info['name']}" if info.get("name") else f"<#{channel}>"
        if info.get("is_archived"):
            return Refusal(f"{name} is archived", f"unarchive {name}, or open the round in another channel")
        if info.get("is_member") is False:
            return Refusal(f"policybot is not a member of {name}", f"invite @policybot to {name} (type /invite @policybot there)")
        return None

    async def post(self, post: Post, *, delivery_key: str = "") -> str:
        channel, thread_ts = parse_key(post.thread_parent) if post.thread_parent else (post.channel, None)
        messages = messages_for_post(post)
        team = post.community
        ts = await self._send(team, channel, messages[0], thread_ts)
        rest_thread = thread_ts or ts  # a long post continues in its own thread (or the thread it is in)
        client = await self._client(team)
        for stance in post.seed_reactions:
            try:
                await client.reactions_add(channel=channel, timestamp=ts, name=STANCE_REACTION[stance])
            except SlackApiError as e:  # a missing seed reaction is not worth losing the post over
                log.warning("could not seed %s on %s:%s: %s", stance.value, channel, ts, e.response.get("error"))
        for m in messages[1:]:
            await self._send(team, channel, m, rest_thread)
        if post.attachment is not None:
            await self._upload(team, channel, post.attachment, "", rest_thread)
        return message_key(channel, ts)

    async def edit(self, message_key: str, post: Post) -> None:
        channel, ts = parse_key(message_key)
        first = messages_for_post(post)[0]
        client = await self._client(post.community)
        try:
            await client.chat_update(channel=channel, ts=ts, text=first.text, blocks=first.blocks, **SAFE)
        except SlackApiError as e:
            refusal = refused(self.workspaces, post.community, channel, e)
            if refusal is not None:
                raise refusal from e
            raise

    async def _upload(self, team: str, channel: str, attachment: Attachment, text: str, thread_ts: str | None = None) -> str:
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        if text:
            extra["initial_comment"] = plain(text)
        client = await self._client(team)
        response = await client.files_upload_v2(
            channel=channel, content=attachment.data, filename=attachment.filename, title=attachment.filename, **extra
        )
        files = response.get("files") or [{}]
        return f"{channel}:{files[0].get('id', '')}"

    async def upload(self, channel: str, attachment: Attachment, text: str = "", *, community: str = "") -> str:
        return await self._upload(community, channel, attachment, text)

    # ------------------------------------------------------------ private replies

    def remember(self, actor: Actor, response_url: str | None, *, used: int = 0) -> None:
        """Keep the member's latest response_url for later private replies (`used`: uses already planned)."""
        if response_url:
            self._responders[(actor.community, actor.member)] = [response_url, time.monotonic(), used]

    def _response_url(self, actor: Actor) -> str | None:
        found = self._responders.get((actor.community, actor.member))
        if found is None or time.monotonic() - found[1] > RESPONSE_URL_SECONDS or found[2] >= RESPONSE_URL_USES:
            return None
        found[2] += 1
        return str(found[0])

    async def respond(self, response_url: str, reply: Reply) -> None:
        """The answer to a command or button, through its response_url: private unless reply.public."""
        hook = AsyncWebhookClient(response_url, retry_handlers=retry_handlers())
        kind = "in_channel" if reply.public else "ephemeral"
        for m in messages_for_reply(reply):
            response = await hook.send(text=m.text, blocks=m.blocks, response_type=kind, replace_original=False)
            if response.status_code != 200:
                log.warning("response_url answered %s: %s", response.status_code, response.body)

    async def direct(self, actor: Actor, reply: Reply) -> None:
        """A message in the member's direct messages with the app."""
        for m in messages_for_reply(reply):
            await self._send(actor.community, actor.member, m, None)

    async def reply_privately(self, actor: Actor, reply: Reply) -> None:
        try:
            url = self._response_url(actor)
            if url is not None:
                await self.respond(url, reply)
            else:
                await self.direct(actor, reply)
            if reply.attachment is not None:
                await self.send_file_privately(actor, reply.attachment)
        except SlackApiError as e:
            log.warning("could not reach member %s privately: %s", actor.member, e.response.get("error"))
        except ChatRefused as e:
            log.warning("could not reach member %s privately: %s", actor.member, e.refusal.describe())

    async def send_file_privately(self, actor: Actor, attachment: Attachment) -> None:
        """Files are never ephemeral on Slack: a private file goes to the member's direct messages."""
        client = await self._client(actor.community)
        opened = await client.conversations_open(users=actor.member)
        await self._upload(actor.community, str(opened["channel"]["id"]), attachment, "")

    async def ephemeral(self, channel: str, actor: Actor, reply: Reply) -> None:
        """A message only this member sees, in a channel they are in."""
        try:
            client = await self._client(actor.community)
            for m in messages_for_reply(reply):
                await client.chat_postEphemeral(channel=channel, user=actor.member, text=m.text, blocks=m.blocks, **SAFE)
        except SlackApiError as e:
            log.warning("could not answer %s in %s: %s", actor.member, channel, e.response.get("error"))
        except ChatRefused as e:
            log.warning("could not answer %s in %s: %s", actor.member, channel, e.refusal.describe())

    async def post_reply(self, community: str, channel: str, reply: Reply) -> None:
        """A public reply (reply.public) posted in the channel."""
        for m in messages_for_reply(reply):
            await self._send(community, channel, m, None)
