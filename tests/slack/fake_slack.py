"""A local fake of the Slack Web API (and of response_url targets and file upload URLs) that
records every call, in the spirit of bolt-python's tests/mock_web_api_server.

It answers the methods policybot uses with the shapes Slack documents (auth.test, chat.postMessage,
chat.update, chat.postEphemeral, reactions.add, users.info, usergroups.users.list, views.open,
conversations.open, files.getUploadURLExternal + the upload URL + files.completeUploadExternal,
and oauth.v2.access for Bolt's OAuth flow), and can be told to answer a method with 429 +
Retry-After, or to hold a method until released.

It knows several workspaces, each with its bot token (`tokens`; BOT_TOKEN is TEAM's): a call with a
token it never issued answers invalid_auth, one with a revoked token token_revoked, as Slack does, and
every call records the token it came with. `install(team)` makes a workspace installable: the code
Slack would hand the installer's browser, which oauth.v2.access exchanges for the workspace's token."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from adapters.slack.render import texts_of_blocks

TEAM = "T0POLICY"
BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
BOT_TOKEN = "xoxb-test-token"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret"
APP_ID = "A0POLICY"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str
    status: int = 200
    error: str = ""  # what Slack answered a call it refused (invalid_auth, token_revoked, …)
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class Enforced:
    """Slack's rate limits, enforced as Slack does: a 429 with Retry-After for a call beyond them."""

    message_seconds: float = 1.0  # chat.postMessage: one per channel in this many seconds
    reactions: int = 50  # reactions.add: this many per workspace …
    reaction_seconds: float = 60.0  # … in any window of this many seconds

    def scaled(self, factor: float) -> Enforced:
        """The same limits on a clock 1/factor times faster."""
        return Enforced(self.message_seconds * factor, self.reactions, self.reaction_seconds * factor)


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # "channel:ts" → the message as posted
    order: list[str] = field(default_factory=list)  # message keys in the order they were posted
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # response_url token → bodies
    response_posts: list[str] = field(default_factory=list)  # the token of every POST to a response_url, accepted or not
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    usergroup_handles: dict[str, str] = field(default_factory=dict)  # user group id → its handle (no @)
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id → bytes received at its upload URL
    rate_limit: dict[str, int] = field(default_factory=dict)  # method → how many more times to answer 429
    gates: dict[str, asyncio.Event] = field(default_factory=dict)  # method → held until the event is set
    hold_after: dict[str, int] = field(default_factory=dict)  # method → answer this many, then hold the rest
    held: int = 0  # calls being held right now
    drop: set[str] = field(default_factory=set)  # methods whose held calls, once released, are dropped unanswered
    refuse: dict[str, str] = field(default_factory=dict)  # channel → the error chat.postMessage answers there
    not_member: set[str] = field(default_factory=set)  # channels conversations.info says the bot is not in
    enforce: Enforced | None = None  # Slack's rate limits, when set
    expired: set[str] = field(default_factory=set)  # response_url tokens answered 404 expired_url
    ephemeral_refused: set[str] = field(default_factory=set)  # channels where chat.postEphemeral fails
    dm_refused: set[str] = field(default_factory=set)  # users conversations.open refuses
    sockets: list[web.WebSocketResponse] = field(default_factory=list)  # Socket Mode connections
    socket_acks: list[dict[str, Any]] = field(default_factory=list)  # what clients sent back over them
    tokens: dict[str, str] = field(default_factory=lambda: {BOT_TOKEN: TEAM})  # bot token → its workspace
    bot_users: dict[str, str] = field(default_factory=lambda: {TEAM: BOT_USER})  # workspace → the bot's user id
    revoked: set[str] = field(default_factory=set)  # tokens uninstalled or revoked
    codes: dict[str, str] = field(default_factory=dict)  # OAuth code → the workspace it installs
    port: int = 0
    _runner: web.AppRunner | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    _last_post: dict[str, float] = field(default_factory=dict)  # channel → when its last message was accepted
    _reactions: deque[float] = field(default_factory=deque)  # when the latest reactions were accepted

    # ------------------------------------------------------------ server

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, token: str) -> str:
        return f"{self.base}/response/{token}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{token}", self._response)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/control", self._control)
        app.router.add_get("/messages", self._messages)
        app.router.add_get("/responses/{token}", self._response_texts)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ people

    def user(self, user_id: str, *, admin: bool = False, owner: bool = False, name: str = "") -> dict[str, Any]:
        found = self.users.setdefault(user_id, {"id": user_id, "team_id": TEAM, "name": name or user_id.lower()})
        found.update(is_admin=admin, is_owner=owner, is_primary_owner=False)
        return found

    # ------------------------------------------------------------ what was received

    def install(self, team: str, name: str = "") -> str:
        """A workspace the app can be installed in: the OAuth code its installer brings back."""
        self.bot_users.setdefault(team, f"UBOT{team[-4:]}")
        code = f"code-{team}-{next(self._ids)}"
        self.codes[code] = team
        return code

    def uninstall(self, team: str) -> None:
        """Slack revokes every token of the workspace (then sends app_uninstalled)."""
        self.revoked |= {t for t, owner in self.tokens.items() if owner == team}

    def tokens_of(self, team: str) -> set[str]:
        return {t for t, owner in self.tokens.items() if owner == team}

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posted(self) -> list[dict[str, Any]]:
        return [self.messages[k] for k in self.order]

    @staticmethod
    def texts_of(message: dict[str, Any]) -> list[str]:
        return [str(message.get("text", "")), *texts_of_blocks(list(message.get("blocks") or []))]

    def message_with_action(self, action_id: str) -> dict[str, Any]:
        for key in reversed(self.order):
            m = self.messages[key]
            for block in m.get("blocks") or []:
                for e in block.get("elements", []) if block.get("type") == "actions" else []:
                    if e.get("action_id") == action_id:
                        return m
        raise AssertionError(f"no message carries a button {action_id!r}")

    def response_texts(self, token: str) -> str:
        return "\n".join(t for body in self.responses.get(token, []) for t in self.texts_of(body))

    # ------------------------------------------------------------ handlers

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for k in ("blocks", "files", "view"):  # form-encoded calls send these as JSON text
            if isinstance(args.get(k), str):
                args[k] = json.loads(args[k])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        gate = self.gates.get(method)
        if gate is None and method in self.hold_after and len(self.calls_to(method)) >= self.hold_after[method]:
            gate = self.gates.setdefault(method, asyncio.Event())
        if gate is not None and not gate.is_set():
            self.held += 1
            try:
                await gate.wait()
            finally:
                self.held -= 1
            if method in self.drop:  # as if the request never reached Slack: nothing recorded
                return self._json({"ok": False, "error": "request_timeout"}, 504)
        if self.rate_limit.get(method, 0) > 0:
            self.rate_limit[method] -= 1
            self.calls.append(Call(method, args, token, 429))
            return self._json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "0"})
        wait = self._over_limit(method, args)
        if wait is not None:
            self.calls.append(Call(method, args, token, 429))
            return self._json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(max(1, math.ceil(wait)))})
        self.calls.append(Call(method, args, token))
        refused = self._refused_token(method, token, request.headers.get("Authorization", ""))
        if refused is not None:
            self.calls[-1].error = refused
            return self._json({"ok": False, "error": refused})
        if method == "auth.test":
            return self._json(self._auth_test(token))
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._json({"ok": False, "error": "unknown_method"}, 404)
        result: dict[str, Any] = await handler(args)
        return self._json(result)

    def _over_limit(self, method: str, args: dict[str, Any]) -> float | None:
        """How long a call beyond the enforced limits must wait (None: it is within them, and counted)."""
        if self.enforce is None:
            return None
        now = time.monotonic()
        if method == "chat.postMessage":
            channel = str(args.get("channel"))
            last = self._last_post.get(channel)
            if last is not None and now - last < self.enforce.message_seconds:
                return self.enforce.message_seconds - (now - last)
            self._last_post[channel] = now
        elif method == "reactions.add":
            while self._reactions and now - self._reactions[0] >= self.enforce.reaction_seconds:
                self._reactions.popleft()
            if len(self._reactions) >= self.enforce.reactions:
                return self.enforce.reaction_seconds - (now - self._reactions[0])
            self._reactions.append(now)
        return None

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - uploaded")

    async def _response(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        body = await request.json()
        self.response_posts.append(token)
        if token in self.expired:
            return web.Response(status=404, text="expired_url")
        if len(self.responses.get(token, [])) >= 5:  # Slack takes a response_url 5 times
            return web.Response(status=404, text="used_url")
        self.responses.setdefault(token, []).append(body)
        return web.Response(text="ok")

    async def _stats(self, request: web.Request) -> web.Response:
        methods: dict[str, int] = {}
        limited: dict[str, int] = {}
        for c in self.calls:
            methods[c.method] = methods.get(c.method, 0) + 1
            if c.status == 429:
                limited[c.method] = limited.get(c.method, 0) + 1
        responses = sum(len(v) for v in self.responses.values())
        return self._json({"methods": methods, "limited": limited, "responses": responses, "held": self.held})

    async def _control(self, request: web.Request) -> web.Response:
        """For a fake run as its own process (crash tests): hold a method after N calls, release it,
        refuse posts in a channel, or say the bot is not in one."""
        body = await request.json()
        if "hold" in body:
            self.hold_after[body["hold"]] = int(body.get("after", 0))
        if "release" in body:
            if body.get("drop"):
                self.drop.add(body["release"])
            else:
                self.drop.discard(body["release"])
            self.hold_after.pop(body["release"], None)
            self.gates.pop(body["release"], asyncio.Event()).set()
        if "refuse" in body:
            if body.get("error"):
                self.refuse[body["refuse"]] = body["error"]
            else:
                self.refuse.pop(body["refuse"], None)
        if "not_member" in body:
            self.not_member.add(body["not_member"])
        if "member" in body:
            self.not_member.discard(body["member"])
        return self._json({"ok": True})

    async def _messages(self, request: web.Request) -> web.Response:
        out = [
            {
                "key": k,
                "thread_ts": m.get("thread_ts"),
                "texts": self.texts_of(m),
                "reactions": m["reactions"],
                "edited": bool(m.get("edited")),
            }
            for k, m in ((k, self.messages[k]) for k in self.order)
        ]
        return self._json({"messages": out})

    async def _response_texts(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        return self._json({"text": self.response_texts(token), "count": len(self.responses.get(token, []))})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0POLICY"}})
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return ws

    async def envelope(self, kind: str, payload: dict[str, Any], envelope_id: str) -> dict[str, Any]:
        """Send a Socket Mode envelope to the connected app and wait for its ack."""
        await self.sockets[-1].send_json(
            {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": kind != "events_api"}
        )
        for _ in range(500):
            for ack in self.socket_acks:
                if ack.get("envelope_id") == envelope_id:
                    return ack
            await asyncio.sleep(0.01)
        raise AssertionError(f"no ack for envelope {envelope_id}")

    # ------------------------------------------------------------ Web API methods

    async def m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    def _new_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _refused_token(self, method: str, token: str, authorization: str) -> str | None:
        """What Slack answers a call whose credentials do not hold, or None."""
        if method == "oauth.v2.access":  # the app's client id and secret, as HTTP basic auth
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            return None if authorization == f"Basic {expected}" else "invalid_client_id"
        if method == "apps.connections.open" or token.startswith("xapp-"):
            return None
        if token in self.revoked:
            return "token_revoked"
        return None if token in self.tokens else "invalid_auth"

    def _auth_test(self, token: str) -> dict[str, Any]:
        team = self.tokens[token]
        return {"ok": True, "url": "https://policy.slack.com/", "team": "Policy", "user": "policybot", "team_id": team,
                "user_id": self.bot_users.get(team, BOT_USER), "bot_id": BOT_ID, "is_enterprise_install": False}  # fmt: skip

    async def m_oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        team = self.codes.pop(str(args.get("code")), None)  # a code is good once
        if team is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxb-{team}-{next(self._ids)}"
        self.tokens[token] = team
        return {
            "ok": True, "app_id": APP_ID, "authed_user": {"id": f"UINST{team[-4:]}"}, "scope": "commands,chat:write",
            "token_type": "bot", "access_token": token, "bot_user_id": self.bot_users[team],
            "team": {"id": team, "name": f"Workspace {team}"}, "enterprise": None, "is_enterprise_install": False,
        }  # fmt: skip

    async def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args["channel"])
        if channel in self.refuse:
            return {"ok": False, "error": self.refuse[channel]}
        if channel.startswith("U"):  # a user id: the member's direct messages with the app
            channel = "D" + channel[1:]
        ts = self._new_ts()
        message = {"channel": channel, "ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks") or [],
                   "thread_ts": args.get("thread_ts"), "reactions": [], "args": args}  # fmt: skip
        self.messages[f"{channel}:{ts}"] = message
        self.order.append(f"{channel}:{ts}")
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message["text"], "ts": ts}}

    async def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = f"{args['channel']}:{args['ts']}"
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key].update(text=args.get("text", ""), blocks=args.get("blocks") or [], edited=True)
        return {"ok": True, "channel": args["channel"], "ts": args["ts"]}

    async def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if str(args.get("channel")) in self.ephemeral_refused:
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._new_ts()}

    async def m_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        key = f"{args['channel']}:{args['timestamp']}"
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        if args["name"] in self.messages[key]["reactions"]:
            return {"ok": False, "error": "already_reacted"}
        self.messages[key]["reactions"].append(args["name"])
        return {"ok": True}

    async def m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user"))
        user = self.users.get(user_id) or (self.user(user_id) if user_id.startswith("U") else None)  # any member exists
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    async def m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(args.get("usergroup")))
        if group is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": group}

    async def m_usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        groups = [{"id": g, "team_id": TEAM, "handle": self.usergroup_handles.get(g, g.lower())} for g in self.usergroups]
        return {"ok": True, "usergroups": groups}

    async def m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = dict(args["view"])
        view["id"] = f"V{next(self._ids):08d}"
        return {"ok": True, "view": view}

    async def m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel.startswith("G") and channel in self.not_member:  # a private channel the bot was not invited to
            return {"ok": False, "error": "channel_not_found"}
        info = {"id": channel, "name": channel.lower(), "is_channel": True, "is_archived": False,
                "is_member": channel not in self.not_member}  # fmt: skip
        return {"ok": True, "channel": info}

    async def m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if str(args["users"]) in self.dm_refused:
            return {"ok": False, "error": "cannot_dm_bot"}
        return {"ok": True, "channel": {"id": "D" + str(args["users"])[1:]}}

    async def m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    async def m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args["files"]
        for f in files:
            if f["id"] not in self.uploads:
                return {"ok": False, "error": "file_not_found"}
        return {
            "ok": True,
            "files": [{"id": f["id"], "title": f.get("title", ""), "size": len(self.uploads[f["id"]])} for f in files],
        }

    async def m_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "file": {"id": args.get("file"), "size": len(self.uploads.get(str(args.get("file")), b""))}}


def main() -> None:
    """Run the fake alone (for benchmarks, which need it out of the measured process):
    python -m tests.slack.fake_slack --admin UMOD [--enforce 0.1]  → prints 'port N' and serves until killed."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--admin", action="append", default=[], help="a user id that is a workspace admin")
    parser.add_argument("--enforce", type=float, default=0.0, help="enforce Slack's rate limits on a clock this much faster")
    args = parser.parse_args()

    async def serve() -> None:
        fake = FakeSlack()
        if args.enforce:
            fake.enforce = Enforced().scaled(args.enforce)
        for user in args.admin:
            fake.user(user, admin=True)
        await fake.start()
        print(f"port {fake.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
