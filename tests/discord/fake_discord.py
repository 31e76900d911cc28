"""A local Discord: the REST API (an aiohttp server that discord.py's HTTPClient talks to once
Route.BASE points at it) and the gateway websocket (zlib-stream compressed, with HELLO, IDENTIFY →
READY + GUILD_CREATE, heartbeats, RESUME with replay, sequence numbers). discord.py itself runs
against it unchanged.

Payload shapes follow Discord's API documentation. Rate limits are enforced per bucket (route ×
major parameter) with the real headers, and every 429 is counted, so a test can show that the bot
never floods."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import discord
import yarl
from aiohttp import WSMsgType, web

API = "/api/v10"
JSON = "application/json"  # exactly this: discord.py refuses "application/json; charset=utf-8"

MANAGE_GUILD = 1 << 5
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 6) | (1 << 16) | (1 << 38) | (1 << 35)  # view, send, react, history, threads
MANAGE_MESSAGES = 1 << 13
BOT_PERMISSIONS = MEMBER_PERMISSIONS | (1 << 14) | (1 << 15) | MANAGE_MESSAGES  # and embed links, attach files: the invite's
EMBED_LINKS = 1 << 14
CREATE_PUBLIC_THREADS = 1 << 35


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


_ids = itertools.count(1_300_000_000_000_000_000)


def snowflake() -> int:
    return next(_ids)


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member_payload(user: dict[str, Any], roles: list[int], permissions: int) -> dict[str, Any]:
    return {
        "user": user,
        "nick": None,
        "avatar": None,
        "roles": [str(r) for r in roles],
        "joined_at": now_iso(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "permissions": str(permissions),
        "communication_disabled_until": None,
    }


def role_payload(role_id: int, name: str, permissions: int, position: int) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


@dataclass
class Bucket:
    limit: int
    window: float
    count: int = 0
    resets_at: float = 0.0


@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 200
    at: float = field(default_factory=time.monotonic)  # when the request arrived


@dataclass
class Member:
    id: int
    name: str
    roles: list[int]
    permissions: int

    def payload(self) -> dict[str, Any]:
        return member_payload(user_payload(self.id, self.name), self.roles, self.permissions)


class FakeDiscord:
    def __init__(
        self,
        *,
        message_limit: int = 3,
        message_window: float = 0.3,
        reaction_limit: int = 1,
        reaction_window: float = 0.01,
    ) -> None:
        self.app_id = snowflake()
        self.bot_user = user_payload(self.app_id, "policybot", bot=True)
        self.guild_id = snowflake()
        self.owner_id = snowflake()
        self.channel_id = snowflake()
        self.mod_role_id = snowflake()
        self.guild_channels: dict[int, int] = {self.guild_id: self.channel_id}  # every server → its #policy channel
        self.limits = {"message": (message_limit, message_window), "reaction": (reaction_limit, reaction_window)}
        self.members: dict[str, Member] = {}
        self.calls: list[Call] = []
        self.buckets: dict[str, Bucket] = {}
        self.rate_limited = 0  # 429s answered
        self.exhausted: dict[str, int] = {}  # route name → answers that emptied their bucket (Remaining: 0)
        self.force_429: dict[str, int] = {}  # route name → how many more requests to refuse with a 429
        self.messages: dict[int, dict[str, Any]] = {}  # every message in a channel or thread, by id
        self.order: list[int] = []
        self.threads: dict[int, dict[str, Any]] = {}
        self.reactions: list[tuple[int, int, str]] = []  # (channel, message, emoji) the bot added
        self.callbacks: dict[str, list[dict[str, Any]]] = {}  # interaction token → callback bodies
        self.followups: dict[str, list[dict[str, Any]]] = {}  # interaction token → follow-up messages
        self.synced: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id → command payloads
        self.files: dict[str, bytes] = {}  # served at /files/<name> (attachments members upload)
        self.recommended_shards = 1  # what GET /gateway/bot recommends
        self.app_permissions = BOT_PERMISSIONS  # the bot's permissions sent with each interaction
        self.forbidden: set[int] = set()  # channels where creating a message answers 403 Missing Permissions
        self.forbidden_reactions = False  # adding a reaction answers 403 Missing Permissions
        self.manage_messages = True  # the bot may take off a member's reaction (else 403)
        self.dm_channels: dict[int, int] = {}  # direct-message channel → the member it reaches
        self.removed_reactions: list[tuple[int, int, str, int]] = []  # (channel, message, emoji, member) taken off
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0
        # gateway
        self.gateway = FakeGateway(self)

    # ------------------------------------------------------------ lifecycle

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("GET", "/gateway", self.gateway.handle)
        app.router.add_route("GET", "/files/{name}", self._file)
        app.router.add_route("*", API + "/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def install(self) -> None:
        """Point discord.py at this fake (undo with uninstall)."""
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.base + API
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{self.port}/gateway")

    def uninstall(self) -> None:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved

    # ------------------------------------------------------------ people

    def member(self, name: str, *, moderator: bool = False, roles: tuple[int, ...] = ()) -> Member:
        if name not in self.members:
            self.members[name] = Member(snowflake(), name, [], MEMBER_PERMISSIONS)
        m = self.members[name]
        m.permissions = MEMBER_PERMISSIONS | (MANAGE_GUILD if moderator else 0)
        m.roles = list(roles)
        return m

    def add_guild(self, *, shard: int, shard_count: int) -> tuple[int, int]:
        """Another server, with its own #policy channel, whose events the given shard carries
        (Discord's rule: shard = (guild_id >> 22) % shard_count). Returns (guild id, channel id)."""
        guild = snowflake()
        while (guild >> 22) % shard_count != shard:
            guild += 1 << 22
        channel = snowflake()
        self.guild_channels[guild] = channel
        return guild, channel

    def guild_of(self, channel_id: int) -> int:
        """The server a channel or thread is in."""
        for guild, channel in self.guild_channels.items():
            if channel == channel_id:
                return guild
        thread = self.threads.get(channel_id)
        return int(thread["guild_id"]) if thread is not None else self.guild_id

    def guild_payload(self, guild_id: int | None = None) -> dict[str, Any]:
        guild_id = guild_id or self.guild_id
        channel_id = self.guild_channels[guild_id]
        bot_member = member_payload(self.bot_user, [], MEMBER_PERMISSIONS)
        bot_member.pop("permissions")
        return {
            "id": str(guild_id),
            "name": "Policy Lab",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                role_payload(guild_id, "@everyone", MEMBER_PERMISSIONS, 0),
                role_payload(self.mod_role_id, "stewards", MEMBER_PERMISSIONS, 1),
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": now_iso(),
            "large": False,
            "unavailable": False,
            "member_count": 10,
            "voice_states": [],
            "members": [bot_member],
            "channels": [
                {
                    "id": str(channel_id),
                    "type": 0,
                    "guild_id": str(guild_id),
                    "name": "policy",
                    "position": 0,
                    "permission_overwrites": [],
                    "topic": None,
                    "nsfw": False,
                    "last_message_id": None,
                    "rate_limit_per_user": 0,
                    "parent_id": None,
                }
            ],
            "threads": [  # the active ones
                t for t in self.threads.values() if t["guild_id"] == str(guild_id) and not t["thread_metadata"]["archived"]
            ],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # ------------------------------------------------------------ waiting

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], limit: float = 20.0) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(until(), limit)

    # ------------------------------------------------------------ what was posted

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [self.messages[m] for m in self.order if self.messages[m]["channel_id"] == str(channel_id)]

    def posted_messages(self) -> list[dict[str, Any]]:
        return [self.messages[m] for m in self.order]

    @staticmethod
    def texts_of(message: dict[str, Any]) -> list[str]:
        out: list[str] = []
        if message.get("content"):
            out.append(message["content"])
        for e in message.get("embeds", []):
            out += [e.get("title") or "", e.get("description") or ""]
            for f in e.get("fields", []):
                out += [f["name"], f["value"]]
        return [t for t in out if t]

    def direct_messages(self, member: Member) -> list[str]:
        """The texts of every direct message the bot sent this member."""
        channels = {str(c) for c, m in self.dm_channels.items() if m == member.id}
        return [t for m in self.posted_messages() if m["channel_id"] in channels for t in self.texts_of(m)]

    def message_with_custom_id(self, custom_id: str) -> dict[str, Any]:
        for mid in reversed(self.order):
            m = self.messages[mid]
            for row in m.get("components", []):
                if any(c.get("custom_id") == custom_id for c in row.get("components", [])):
                    return m
        raise LookupError(f"no message carries a component {custom_id!r}")

    def message_titled(self, needle: str) -> dict[str, Any]:
        for mid in self.order:
            m = self.messages[mid]
            if any(needle in (e.get("title") or "") for e in m.get("embeds", [])):
                return m
        raise LookupError(f"no message has a title containing {needle!r}")

    # ------------------------------------------------------------ REST

    async def _file(self, request: web.Request) -> web.StreamResponse:
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def _bucket(self, name: str, major: str) -> tuple[str, Bucket]:
        limit, window = self.limits.get(name, (50, 1.0))
        key = f"{name}:{major}"
        b = self.buckets.get(key)
        now = time.monotonic()
        if b is None:
            b = self.buckets[key] = Bucket(limit, window)
        if now >= b.resets_at:
            b.count, b.resets_at = 0, now + window
        return key, b

    def _rate_headers(self, name: str, b: Bucket) -> dict[str, str]:
        after = max(0.0, b.resets_at - time.monotonic())
        after = math.ceil(after * 1000) / 1000
        return {
            "X-RateLimit-Limit": str(b.limit),
            "X-RateLimit-Remaining": str(max(0, b.limit - b.count)),
            "X-RateLimit-Reset": f"{time.time() + after:.3f}",
            "X-RateLimit-Reset-After": f"{after:.3f}",
            "X-RateLimit-Bucket": f"fake-{name}",
        }

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": JSON, **(headers or {})})

    async def _read_body(self, request: web.Request) -> tuple[Any, dict[str, bytes]]:
        files: dict[str, bytes] = {}
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(data)
                else:
                    files[part.filename or part.name or "file"] = bytes(data)  # type: ignore[union-attr]
            return body, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), files

    ROUTES: ClassVar[list[tuple[str, re.Pattern[str], str, str]]] = [
        ("GET", re.compile(r"^/users/@me$"), "me", ""),
        ("GET", re.compile(r"^/gateway/bot$"), "gateway_bot", ""),
        ("GET", re.compile(r"^/oauth2/applications/@me$"), "application", ""),
        ("PUT", re.compile(r"^/applications/(\d+)/commands$"), "sync", "global"),
        ("PUT", re.compile(r"^/applications/(\d+)/guilds/(\d+)/commands$"), "sync", "guild"),
        ("POST", re.compile(r"^/interactions/(\d+)/([^/]+)/callback$"), "callback", ""),
        ("POST", re.compile(r"^/webhooks/(\d+)/([^/]+)$"), "followup", ""),
        ("PATCH", re.compile(r"^/webhooks/(\d+)/([^/]+)/messages/@original$"), "edit_original", ""),
        ("POST", re.compile(r"^/channels/(\d+)/messages$"), "message", ""),
        ("PATCH", re.compile(r"^/channels/(\d+)/messages/(\d+)$"), "edit", ""),
        ("PATCH", re.compile(r"^/channels/(\d+)$"), "edit_channel", ""),
        ("POST", re.compile(r"^/channels/(\d+)/messages/(\d+)/threads$"), "thread", ""),
        ("PUT", re.compile(r"^/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me$"), "reaction", ""),
        ("DELETE", re.compile(r"^/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/(\d+)$"), "remove_reaction", ""),
        ("POST", re.compile(r"^/users/@me/channels$"), "dm", ""),
    ]

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await self._read_body(request)
        call = Call(request.method, path, dict(request.query), body, files)
        self.calls.append(call)
        try:
            for method, pattern, name, _ in self.ROUTES:
                m = pattern.match(path)
                if m is None or method != request.method:
                    continue
                major = m.group(1) if m.groups() else ""
                if name in ("callback", "followup", "edit_original"):
                    major = f"{m.group(1)}:{m.group(2)}"
                _, bucket = self._bucket(name, major)
                if self.force_429.get(name, 0) > 0 or bucket.count >= bucket.limit:
                    if self.force_429.get(name, 0) > 0:
                        self.force_429[name] -= 1
                        bucket.count = bucket.limit
                    self.rate_limited += 1
                    call.status = 429
                    headers = {**self._rate_headers(name, bucket), "Via": "1.1 google", "X-RateLimit-Scope": "user"}
                    headers["X-RateLimit-Remaining"] = "0"
                    retry = max(0.001, bucket.resets_at - time.monotonic())
                    return self._json(
                        {"message": "You are being rate limited.", "retry_after": retry, "global": False}, 429, headers
                    )
                bucket.count += 1
                if bucket.count >= bucket.limit:
                    self.exhausted[name] = self.exhausted.get(name, 0) + 1
                handler: Callable[[re.Match[str], Any, dict[str, bytes], web.Request], Awaitable[web.Response]] = getattr(
                    self, f"_r_{name}"
                )
                response = await handler(m, body, files, request)
                response.headers.update(self._rate_headers(name, bucket))
                call.status = response.status
                return response
            call.status = 404
            return self._json({"message": "404: Not Found", "code": 0}, 404)
        finally:
            await self._notify()

    async def _r_me(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        return self._json({**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US"})

    async def _r_gateway_bot(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return self._json(
            {"url": f"ws://127.0.0.1:{self.port}/gateway", "shards": self.recommended_shards, "session_start_limit": limit}
        )

    async def _r_application(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        return self._json(
            {
                "id": str(self.app_id),
                "name": "policybot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": user_payload(self.owner_id, "owner"),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "rpc_origins": [],
            }
        )

    async def _r_sync(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        scope = m.group(2) if m.lastindex and m.lastindex >= 2 else "global"
        self.synced[scope] = body
        out = []
        for cmd in body:
            out.append({**cmd, "id": str(snowflake()), "application_id": str(self.app_id), "version": str(snowflake())})
            if scope != "global":
                out[-1]["guild_id"] = scope
        return self._json(out)

    def _message(self, channel_id: int, body: dict[str, Any], files: dict[str, bytes], *, flags: int = 0) -> dict[str, Any]:
        mid = snowflake()
        attachments = []
        for i, (name, data) in enumerate(files.items()):
            self.files[f"{mid}-{name}"] = data
            url = f"{self.base}/files/{mid}-{name}"
            attachments.append(
                {"id": str(snowflake()), "filename": name, "size": len(data), "url": url, "proxy_url": url, "content_type": None}
            )
            del i
        message = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": self.bot_user,
            "content": body.get("content") or "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 0,
            "flags": body.get("flags", 0) | flags,
            "components": body.get("components") or [],
            "allowed_mentions": body.get("allowed_mentions"),  # not in Discord's answer; kept for the tests
        }
        return message

    async def _r_message(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        channel_id = int(m.group(1))
        if channel_id in self.forbidden:
            return self._json({"message": "Missing Permissions", "code": 50013}, 403)
        nonce = (body or {}).get("nonce")
        if nonce and (body or {}).get("enforce_nonce"):  # Discord: the same author's same nonce returns the first message
            for mid in self.order:
                earlier = self.messages[mid]
                if earlier.get("nonce") == nonce and earlier["channel_id"] == str(channel_id):
                    return self._json({k: v for k, v in earlier.items() if k != "allowed_mentions"})
        message = self._message(channel_id, body or {}, files)
        if nonce:
            message["nonce"] = nonce
        self.messages[int(message["id"])] = message
        self.order.append(int(message["id"]))
        reply = {k: v for k, v in message.items() if k != "allowed_mentions"}
        return self._json(reply)

    async def _r_edit(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        message = self.messages.get(int(m.group(2)))
        if message is None:
            return self._json({"message": "Unknown Message", "code": 10008}, 404)
        for k in ("content", "embeds", "components", "allowed_mentions"):
            if k in body:
                message[k] = body[k]
        message["edited_timestamp"] = now_iso()
        return self._json({k: v for k, v in message.items() if k != "allowed_mentions"})

    async def _r_thread(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        channel_id, message_id = int(m.group(1)), int(m.group(2))
        if message_id not in self.messages or message_id in self.threads:
            return self._json({"message": "Cannot start a thread here", "code": 160004}, 400)
        thread = {
            "id": str(message_id),  # a thread started from a message has the message's id
            "type": 11,
            "guild_id": str(self.guild_of(channel_id)),
            "parent_id": str(channel_id),
            "owner_id": str(self.app_id),
            "name": body["name"],
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": now_iso(),
                "locked": False,
            },
        }
        self.threads[message_id] = thread
        return self._json(thread, 201)

    async def _r_edit_channel(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        thread = self.threads.get(int(m.group(1)))
        if thread is None:
            return self._json({"message": "Unknown Channel", "code": 10003}, 404)
        meta = thread["thread_metadata"]
        if meta["locked"] and body.get("archived") is False:  # only Manage Threads unarchives a locked thread
            return self._json({"message": "Missing Permissions", "code": 50013}, 403)
        for k in ("archived", "locked", "auto_archive_duration"):
            if k in body:
                meta[k] = body[k]
        meta["archive_timestamp"] = now_iso()
        self.later(self.gateway.dispatch("THREAD_UPDATE", thread))
        return self._json(thread)

    async def archive_thread(self, thread_id: int, *, tell: bool = True, locked: bool = False) -> None:
        """Archive a thread as Discord does after a week without messages; `tell`: send THREAD_UPDATE
        (False: it happened while no bot was connected)."""
        meta = self.threads[thread_id]["thread_metadata"]
        meta.update(archived=True, locked=locked, archive_timestamp=now_iso())
        if tell:
            await self.gateway.dispatch("THREAD_UPDATE", self.threads[thread_id])

    def later(self, coro: Any) -> None:
        """Run a gateway dispatch after the REST answer, as Discord does."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _r_reaction(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        from urllib.parse import unquote

        if self.forbidden_reactions:
            return self._json({"message": "Missing Permissions", "code": 50013}, 403)
        self.reactions.append((int(m.group(1)), int(m.group(2)), unquote(m.group(3))))
        return web.Response(status=204)

    async def _r_remove_reaction(
        self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request
    ) -> web.Response:
        from urllib.parse import unquote

        if not self.manage_messages:
            return self._json({"message": "Missing Permissions", "code": 50013}, 403)
        channel, message, emoji, user = int(m.group(1)), int(m.group(2)), unquote(m.group(3)), int(m.group(4))
        self.removed_reactions.append((channel, message, emoji, user))
        # Discord tells the gateway, as for any removal: the member's reaction is gone
        data: dict[str, Any] = {"user_id": str(user), "channel_id": str(channel), "message_id": str(message)}
        data["guild_id"] = str(self.guild_of(channel))
        data |= {"emoji": {"id": None, "name": emoji}, "burst": False, "type": 0}
        self.later(self.gateway.dispatch("MESSAGE_REACTION_REMOVE", data))
        return web.Response(status=204)

    async def _r_dm(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        channel = snowflake()
        self.dm_channels[channel] = int(body["recipient_id"])
        return self._json(
            {
                "id": str(channel),
                "type": 1,
                "last_message_id": None,
                "recipients": [user_payload(int(body["recipient_id"]), "member")],
            }
        )

    async def _r_callback(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        interaction_id, token = m.group(1), m.group(2)
        self.callbacks.setdefault(token, []).append(body)
        flags = (body.get("data") or {}).get("flags", 0)
        answer: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": 2,
                "response_message_id": None,
                "response_message_loading": body["type"] == 5,
                "response_message_ephemeral": bool(flags & 64),
            }
        }
        if body["type"] in (4, 5):  # a message (or its "thinking…" placeholder) was created
            message = self._message(self.channel_id, body.get("data") or {}, files, flags=(128 if body["type"] == 5 else 0))
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": body["type"], "message": {k: v for k, v in message.items() if k != "allowed_mentions"}}
        return self._json(answer)

    async def _r_followup(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        token = m.group(2)
        message = self._message(self.channel_id, body or {}, files)
        message["webhook_id"] = m.group(1)
        self.followups.setdefault(token, []).append(message)
        return self._json({k: v for k, v in message.items() if k != "allowed_mentions"})

    async def _r_edit_original(self, m: re.Match[str], body: Any, files: dict[str, bytes], request: web.Request) -> web.Response:
        message = self._message(self.channel_id, body or {}, files)
        message["edited_original"] = True
        self.followups.setdefault(m.group(2), []).append(message)
        return self._json({k: v for k, v in message.items() if k not in ("allowed_mentions", "edited_original")})

    # ------------------------------------------------------------ interactions (as the gateway delivers them)

    def _interaction(self, kind: int, member: Member, data: dict[str, Any], *, channel_id: int | None = None) -> dict[str, Any]:
        channel = channel_id or self.channel_id
        guild_id = self.guild_of(channel)
        channel_type = 11 if channel in self.threads else 0
        return {
            "id": str(snowflake()),
            "application_id": str(self.app_id),
            "type": kind,
            "data": data,
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "guild_id": str(guild_id),
            "channel": self.threads.get(channel)
            or {"id": str(channel), "type": channel_type, "guild_id": str(guild_id), "name": "policy"},
            "channel_id": str(channel),
            "member": member.payload(),
            "token": f"tok-{uuid.uuid4().hex}",
            "version": 1,
            "app_permissions": str(self.app_permissions),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    def slash(
        self,
        member: Member,
        name: str,
        options: list[dict[str, Any]],
        *,
        resolved: dict[str, Any] | None = None,
        channel_id: int | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(snowflake()), "name": name, "type": 1, "options": options}
        if resolved:
            data["resolved"] = resolved
        return self._interaction(2, member, data, channel_id=channel_id)

    def autocomplete(self, member: Member, name: str, options: list[dict[str, Any]]) -> dict[str, Any]:
        return self._interaction(4, member, {"id": str(snowflake()), "name": name, "type": 1, "options": options})

    def press(self, member: Member, custom_id: str) -> dict[str, Any]:
        message = self.message_with_custom_id(custom_id)
        button = next(c for row in message["components"] for c in row["components"] if c.get("custom_id") == custom_id)
        if button.get("disabled"):  # Discord shows a disabled button greyed out and sends no press
            raise AssertionError(f"the button {custom_id!r} is disabled: no member can press it")
        payload = self._interaction(
            3, member, {"custom_id": custom_id, "component_type": 2}, channel_id=int(message["channel_id"])
        )
        payload["message"] = {k: v for k, v in message.items() if k != "allowed_mentions"}
        return payload

    def reaction(self, member: Member, message: dict[str, Any], emoji: str, *, remove: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user_id": str(member.id),
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "guild_id": str(self.guild_of(int(message["channel_id"]))),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if not remove:
            data["member"] = member.payload()
            data["message_author_id"] = str(self.app_id)
            data["burst_colors"] = []
        return data


@dataclass
class Connection:
    """One gateway connection (one shard of a bot, or the only one)."""

    ws: web.WebSocketResponse
    compress: Any
    session_id: str | None = None
    shard: tuple[int, int] = (0, 1)  # [shard id, shard count] from IDENTIFY; an unsharded bot is shard 0 of 1

    def serves(self, guild_id: int | None) -> bool:
        shard, count = self.shard
        if guild_id is None:
            return shard == 0  # direct messages come on shard 0
        return (guild_id >> 22) % count == shard


class FakeGateway:
    """Discord's gateway, as far as a bot with default intents sees it: any number of connections at
    once, each identified as a shard (or unsharded), each getting the dispatches of its own servers."""

    HEARTBEAT_MS = 41_250

    def __init__(self, discord_: FakeDiscord) -> None:
        self.discord = discord_
        self.connections: list[Connection] = []
        self.sessions: dict[str, list[dict[str, Any]]] = {}  # session id → every dispatch sent, in order
        self.identifies = 0
        self.identified_shards: list[tuple[int, int]] = []  # the [shard, count] of each IDENTIFY
        self.resumes = 0
        self.replay_from: int | None = None  # on the next RESUME, replay from this sequence number
        self._ready = asyncio.Event()

    @property
    def session_id(self) -> str | None:
        """The session of the connection serving the first server."""
        conn = self._serving(self.discord.guild_id)
        return conn.session_id if conn is not None else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Connection(ws, zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None)
        self.connections.append(conn)
        await self._send(conn, {"op": 10, "d": {"heartbeat_interval": self.HEARTBEAT_MS}, "s": None, "t": None})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                await self._identify(conn, frame["d"])
            elif op == 6:
                await self._resume(conn, frame["d"])
        self.connections.remove(conn)
        if not self.connections:
            self._ready.clear()
        return ws

    async def _send(self, conn: Connection, frame: dict[str, Any]) -> None:
        data = json.dumps(frame)
        if conn.compress is None:
            await conn.ws.send_str(data)
        else:
            await conn.ws.send_bytes(conn.compress.compress(data.encode()) + conn.compress.flush(zlib.Z_SYNC_FLUSH))

    async def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        self.identifies += 1
        shard = d.get("shard") or [0, 1]
        conn.shard = (int(shard[0]), int(shard[1]))
        self.identified_shards.append(conn.shard)
        conn.session_id = uuid.uuid4().hex
        self.sessions[conn.session_id] = []
        fake = self.discord
        guilds = [g for g in fake.guild_channels if conn.serves(g)]
        ready = {
            "v": 10,
            "user": {**fake.bot_user, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": conn.session_id,
            "resume_gateway_url": f"ws://127.0.0.1:{fake.port}/gateway",
            "application": {"id": str(fake.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "shard": list(conn.shard),
        }
        await self._dispatch_on(conn, "READY", ready)
        for g in guilds:
            await self._dispatch_on(conn, "GUILD_CREATE", fake.guild_payload(g))
        self._ready.set()

    async def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        log = self.sessions.get(d.get("session_id") or "")
        if log is None:
            await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes += 1
        conn.session_id = d["session_id"]
        start = self.replay_from if self.replay_from is not None else (d.get("seq") or 0) + 1
        self.replay_from = None
        for frame in [f for f in log if f["s"] >= start]:
            await self._send(conn, frame)
        await self._dispatch_on(conn, "RESUMED", {})
        self._ready.set()

    async def wait_connected(self) -> None:
        await asyncio.wait_for(self._ready.wait(), 20)

    def _serving(self, guild_id: int | None) -> Connection | None:
        for conn in self.connections:
            if conn.session_id is not None and conn.serves(guild_id):
                return conn
        return None

    async def _dispatch_on(self, conn: Connection, event: str, data: dict[str, Any]) -> int:
        assert conn.session_id is not None
        log = self.sessions[conn.session_id]
        frame = {"op": 0, "d": data, "s": len(log) + 1, "t": event}
        log.append(frame)
        await self._send(conn, frame)
        return len(log)

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send one dispatch (op 0) on the connection serving its server, with that session's next
        sequence number; returns that number."""
        guild = data.get("guild_id")
        conn = self._serving(int(guild) if guild else None)
        assert conn is not None, f"no connected shard serves server {guild}"
        return await self._dispatch_on(conn, event, data)

    async def redeliver(self, seq: int, guild_id: int | None = None) -> None:
        """Send an already-sent dispatch again, unchanged (same sequence number), as after a resume."""
        conn = self._serving(guild_id or self.discord.guild_id)
        assert conn is not None and conn.session_id is not None
        await self._send(conn, self.sessions[conn.session_id][seq - 1])

    async def drop(self, *, replay_from: int | None = None) -> None:
        """Close every connection the way a network blip does (code 4000): the clients resume."""
        self.replay_from = replay_from
        self._ready.clear()
        for conn in list(self.connections):
            await conn.ws.close(code=4000)

    async def close(self) -> None:
        for conn in list(self.connections):
            await conn.ws.close()
