"""The ChatPort on Slack: posts become Block Kit messages (split to Slack's limits), threads,
seeded stance reactions and buttons, paced within Slack's rate limits (adapters/slack/pacing.py);
files go up with files_upload_v2.

A private reply is packed into as few messages as Slack's limits allow and sent through the
request's response_url while Slack still takes it (30 minutes, 5 uses: a budget kept per
response_url); what the budget cannot carry, or what a failing response_url refuses, goes by
chat.postEphemeral in the same channel, and failing that to the member's direct messages with the
app. If every route fails, the log says exactly which messages of whose reply were lost.

Message keys are "{channel}:{ts}". A Post whose thread_parent is "{channel}:{ts}" is sent with
thread_ts={ts}: Slack threads are the replies to a message, so every scenario's post is the parent
of its candidates' thread.

Every call uses the token of the workspace it concerns (adapters/slack/installations.py): a post's
`community`, a member's Actor.community."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.installations import TOKEN_GONE, Workspaces, not_installed
from adapters.slack.pacing import SlackPacing
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
KEPT_RESPONSE_URLS = 1000  # past this many, the expired ones are forgotten

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


@dataclass
class ResponseUrl:
    """A response_url Slack sent with a command or a press, and what is left of it."""

    url: str
    channel: str  # where the request came from: the ephemeral fallback goes there
    arrived: float
    used: int = 0
    failed: bool = False  # Slack refused it (expired, used up): never tried again

    def usable(self, now: float) -> bool:
        return not self.failed and self.used < RESPONSE_URL_USES and now - self.arrived < RESPONSE_URL_SECONDS


Route = tuple[str, Callable[[OutMessage], Awaitable[bool]]]  # (its name for the logs, send one message: did it arrive?)


class SlackChat:
    def __init__(self, workspaces: Workspaces, pacing: SlackPacing | None = None) -> None:
        self.workspaces = workspaces
        self.pacing = pacing or SlackPacing()
        self._urls: dict[str, ResponseUrl] = {}  # response_url → its budget
        self._latest: dict[tuple[str, str], ResponseUrl] = {}  # (team, member) → their latest response_url

    # ------------------------------------------------------------ sending

    async def _client(self, team: str) -> AsyncWebClient:
        return await self.workspaces.client(team)

    async def _send(self, team: str, channel: str, m: OutMessage, thread_ts: str | None) -> str:
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        client = await self._client(team)
        try:
            async with self.pacing.message(channel):
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
        """One Post as one message (and its continuation in the thread when long). A scenario's
        candidates are not packed into one message although that would post fewer: Slack keeps
        reactions per message, and members react to each candidate, so each needs its own."""
        channel, thread_ts = parse_key(post.thread_parent) if post.thread_parent else (post.channel, None)
        messages = messages_for_post(post)
        team = post.community
        ts = await self._send(team, channel, messages[0], thread_ts)
        rest_thread = thread_ts or ts  # a long post continues in its own thread (or the thread it is in)
        client = await self._client(team)
        for stance in post.seed_reactions:
            try:
                async with self.pacing.reaction(team):
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

    def remember(self, actor: Actor, response_url: str | None, channel: str = "") -> None:
        """Keep a request's response_url (and its channel) for the answer and later private replies."""
        if response_url and response_url not in self._urls:
            now = time.monotonic()
            if len(self._urls) >= KEPT_RESPONSE_URLS:  # forget the ones Slack no longer takes
                self._urls = {u: r for u, r in self._urls.items() if now - r.arrived < RESPONSE_URL_SECONDS}
                self._latest = {k: r for k, r in self._latest.items() if now - r.arrived < RESPONSE_URL_SECONDS}
            self._urls[response_url] = ResponseUrl(response_url, channel, now)
        if response_url:
            self._latest[(actor.community, actor.member)] = self._urls[response_url]

    def _routes(self, actor: Actor, via: ResponseUrl | None, channel: str, public: bool) -> list[Route]:
        """The ways a reply can reach the member, best first."""
        routes: list[Route] = []
        if via is not None:
            routes.append(("response_url", lambda m: self._respond(via, m, public)))
        if public and channel:
            routes.append((f"chat.postMessage in {channel}", lambda m: self._to_channel(actor, channel, m)))
        if not public and channel:
            routes.append((f"chat.postEphemeral in {channel}", lambda m: self._ephemeral(channel, actor, m)))
        routes.append(("direct message", lambda m: self._direct(actor, m)))
        return routes

    async def _respond(self, via: ResponseUrl, m: OutMessage, public: bool) -> bool:
        if not via.usable(time.monotonic()):
            return False
        via.used += 1
        hook = AsyncWebhookClient(via.url, retry_handlers=retry_handlers())
        kind = "in_channel" if public else "ephemeral"
        try:
            response = await hook.send(text=m.text, blocks=m.blocks, response_type=kind, replace_original=False)
        except Exception as e:  # a network failure after retries: the next route carries it
            log.warning("response_url failed: %s: %s", e.__class__.__name__, e)
            via.failed = True
            return False
        if response.status_code != 200:
            log.warning("response_url answered %s: %s", response.status_code, str(response.body)[:200])
            via.failed = True
            return False
        return True

    async def _to_channel(self, actor: Actor, channel: str, m: OutMessage) -> bool:
        try:
            await self._send(actor.community, channel, m, None)
        except (SlackApiError, ChatRefused) as e:
            log.warning("could not post a public reply in %s: %s", channel, e)
            return False
        return True

    async def _ephemeral(self, channel: str, actor: Actor, m: OutMessage) -> bool:
        try:
            client = await self._client(actor.community)
            await client.chat_postEphemeral(channel=channel, user=actor.member, text=m.text, blocks=m.blocks, **SAFE)
        except SlackApiError as e:
            log.warning("chat.postEphemeral to %s in %s failed: %s", actor.member, channel, e.response.get("error"))
            return False
        except ChatRefused as e:
            log.warning("chat.postEphemeral to %s in %s failed: %s", actor.member, channel, e.refusal.describe())
            return False
        return True

    async def _direct(self, actor: Actor, m: OutMessage) -> bool:
        try:
            client = await self._client(actor.community)
            opened = await client.conversations_open(users=actor.member)
            await self._send(actor.community, str(opened["channel"]["id"]), m, None)
        except (SlackApiError, ChatRefused) as e:
            log.warning("direct message to %s failed: %s", actor.member, e)
            return False
        return True

    async def _deliver(self, actor: Actor, reply: Reply, via: ResponseUrl | None, channel: str) -> None:
        """Every message of the reply, in order, each by the best route still open."""
        messages = messages_for_reply(reply)
        routes = self._routes(actor, via, channel or (via.channel if via else ""), reply.public)
        tried: list[str] = []
        r = 0
        for i, m in enumerate(messages):
            while r < len(routes):
                name, send = routes[r]
                if await send(m):
                    break
                tried.append(name)
                r += 1
            else:
                log.error(
                    "reply to member %s of %s LOST: messages %d-%d of %d (%d characters, starting %r) reached no route "
                    "(tried %s)",
                    actor.member, actor.community, i + 1, len(messages), len(messages),
                    sum(len(x.text) for x in messages[i:]), m.text[:80], ", ".join(tried),
                )  # fmt: skip
                return

    async def reply_privately(self, actor: Actor, reply: Reply, *, response_url: str | None = None, channel: str = "") -> None:
        """The member's answer: through this response_url (or their latest), then the fallbacks."""
        via = self._urls.get(response_url) if response_url else self._latest.get((actor.community, actor.member))
        await self._deliver(actor, reply, via, channel)
        if reply.attachment is not None:
            try:
                await self.send_file_privately(actor, reply.attachment)
            except (SlackApiError, ChatRefused) as e:
                log.error(
                    "file %s (%d bytes) for member %s of %s LOST: %s",
                    reply.attachment.filename, len(reply.attachment.data), actor.member, actor.community, e,
                )  # fmt: skip

    async def send_file_privately(self, actor: Actor, attachment: Attachment) -> None:
        """Files are never ephemeral on Slack: a private file goes to the member's direct messages."""
        client = await self._client(actor.community)
        opened = await client.conversations_open(users=actor.member)
        await self._upload(actor.community, str(opened["channel"]["id"]), attachment, "")

    async def ephemeral(self, channel: str, actor: Actor, reply: Reply) -> None:
        """A message only this member sees, in a channel they are in (else in their direct messages)."""
        await self._deliver(actor, reply, None, channel)

    async def post_reply(self, community: str, channel: str, reply: Reply) -> None:
        """A public reply (reply.public) posted in the channel."""
        for m in messages_for_reply(reply):
            await self._send(community, channel, m, None)
