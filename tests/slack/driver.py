"""Deliver requests to the Bolt app the way Slack does: signed HTTP POSTs to /slack/events (slash
commands and interactivity form-encoded, events as JSON), with response_urls that point at the
fake Slack; and a ConformanceDriver on top."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from slack_sdk.signature import SignatureVerifier
from sqlmodel import select

from adapters.slack.chat import STANCE_REACTION
from adapters.slack.run import EVENTS_PATH, SlackBot
from adapters.slack.settings import INSTALL_PATH, REDIRECT_PATH
from bot.bootstrap import App
from bot.domain.model import Stance
from storage.tables import CandidateRow
from tests.slack.fake_slack import TEAM, FakeSlack

SIGNING_SECRET = "fake-signing-secret"
CHANNEL = "C0ROUNDS"


@dataclass
class Delivery:
    status: int
    body: str
    ack_ms: float  # from sending the request to the HTTP response (Slack's "ack")
    token: str = ""  # the response_url token, when the request carried one

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def signed_headers(body: str, content_type: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}


@dataclass
class SlackSender:
    """Signed requests to the Bolt server on loopback."""

    url: str
    fake: FakeSlack
    session: aiohttp.ClientSession
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    async def post(self, body: str, content_type: str, *, headers: dict[str, str] | None = None, **sign: Any) -> Delivery:
        all_headers = signed_headers(body, content_type, **sign) | (headers or {})
        started = time.perf_counter()
        async with self.session.post(self.url, data=body.encode(), headers=all_headers) as response:
            text = await response.text()
            return Delivery(response.status, text, (time.perf_counter() - started) * 1000)

    def command_body(self, user: str, command: str, text: str, *, channel: str = CHANNEL, team: str = TEAM) -> tuple[str, str]:
        token = f"cmd{next(self._n)}-{uuid.uuid4().hex[:8]}"
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # as Slack sends a command's text
        form = {
            "token": "legacy", "team_id": team, "team_domain": "policy", "channel_id": channel, "channel_name": "rounds",
            "user_id": user, "user_name": user.lower(), "command": command, "text": text, "api_app_id": "A0POLICY",
            "is_enterprise_install": "false", "response_url": self.fake.response_url(token), "trigger_id": f"trig.{token}",
        }  # fmt: skip
        return urlencode(form), token

    async def command(self, user: str, line: str, *, channel: str = CHANNEL, team: str = TEAM, **sign: Any) -> Delivery:
        """A slash command given as its text form, e.g. '/round open kind scenarios=1,2'."""
        command, _, text = line.partition(" ")
        body, token = self.command_body(user, command, text.strip(), channel=channel, team=team)
        d = await self.post(body, "application/x-www-form-urlencoded", **sign)
        d.token = token
        return d

    async def interactive(self, payload: dict[str, Any]) -> Delivery:
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    async def press(self, user: str, message: dict[str, Any], action_id: str) -> Delivery:
        token = f"act{next(self._n)}-{uuid.uuid4().hex[:8]}"
        payload = {
            "type": "block_actions", "api_app_id": "A0POLICY", "token": "legacy", "trigger_id": f"trig.{token}",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "team": {"id": TEAM, "domain": "policy"}, "channel": {"id": message["channel"], "name": "rounds"},
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
            "message": {"type": "message", "ts": message["ts"], "text": message["text"], "blocks": message["blocks"]},
            "response_url": self.fake.response_url(token),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "policybot-actions-0", "value": action_id,
                         "action_ts": f"{time.time():.6f}"}],
        }  # fmt: skip
        d = await self.interactive(payload)
        d.token = token
        return d

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, str | tuple[str, str]]) -> Delivery:
        """Submit a modal (as views.open received it) with these values: block_id → text, or
        block_id → ("select", value) for a static select."""
        state: dict[str, Any] = {}
        for block_id, value in values.items():
            if isinstance(value, tuple):
                state[block_id] = {"value": {"type": "static_select", "selected_option": {"value": value[1]}}}
            else:
                state[block_id] = {"value": {"type": "plain_text_input", "value": value}}
        payload = {
            "type": "view_submission", "api_app_id": "A0POLICY", "token": "legacy", "trigger_id": "trig.view",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "team": {"id": TEAM, "domain": "policy"},
            "view": {**view, "id": view.get("id", "V1"), "team_id": TEAM, "state": {"values": state}},
        }  # fmt: skip
        return await self.interactive(payload)

    def event_body(self, event: dict[str, Any], event_id: str | None = None, *, team: str = TEAM) -> str:
        return json.dumps({
            "token": "legacy", "team_id": team, "api_app_id": "A0POLICY", "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": "UBOT0001", "is_bot": True}], "event": event,
        })  # fmt: skip

    async def event(self, event: dict[str, Any], *, team: str = TEAM) -> Delivery:
        return await self.post(self.event_body(event, team=team), "application/json")

    async def reaction(
        self, user: str, channel: str, ts: str, name: str, *, removed: bool = False, event_id: str | None = None, retry: int = 0
    ) -> Delivery:
        event = {
            "type": "reaction_removed" if removed else "reaction_added", "user": user, "reaction": name,
            "item": {"type": "message", "channel": channel, "ts": ts}, "item_user": "UBOT0001", "event_ts": f"{time.time():.6f}",
        }  # fmt: skip
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self.post(self.event_body(event, event_id), "application/json", headers=headers)


class SlackDriver:
    """A ConformanceDriver for Slack."""

    def __init__(self, fake: FakeSlack, bot: SlackBot, sender: SlackSender) -> None:
        self.fake = fake
        self.bot = bot
        self.app: App = bot.app
        self.sender = sender
        self.expected = bot.adapter.handled
        self.acks: list[float] = []

    async def _delivered(self, d: Delivery) -> Delivery:
        assert d.status == 200, (d.status, d.body)
        self.acks.append(d.ack_ms)
        self.expected += 1
        await self.bot.adapter.wait_handled(self.expected)
        return d

    async def wait_one(self) -> None:
        """Wait for the slow work of one more request delivered by other means (a modal submission)."""
        self.expected += 1
        await self.bot.adapter.wait_handled(self.expected)

    def _user(self, member: str, moderator: bool) -> str:
        user = "U" + member.upper()
        self.fake.user(user, admin=moderator, name=member)
        return user

    async def command(self, member: str, text: str, *, moderator: bool = False) -> str:
        d = await self._delivered(await self.sender.command(self._user(member, moderator), text))
        return self.fake.response_texts(d.token)

    async def candidate_message(self, candidate_id: int) -> tuple[str, str]:
        async with self.app.engine.services.uow() as uow:
            row = (await uow.session.exec(select(CandidateRow).where(CandidateRow.id == candidate_id))).one()
        assert row.message_key is not None and row.message_key in self.fake.messages, row.message_key
        channel, _, ts = row.message_key.partition(":")
        return channel, ts

    async def react(
        self, member: str, candidate_id: int, stance: Stance, *, remove: bool = False, duplicate: bool = False
    ) -> None:
        channel, ts = await self.candidate_message(candidate_id)
        user = self._user(member, False)
        event_id = f"Ev{uuid.uuid4().hex[:10].upper()}"
        name = STANCE_REACTION[stance]
        await self._delivered(await self.sender.reaction(user, channel, ts, name, removed=remove, event_id=event_id))
        if duplicate:  # Slack retries an event it thinks was not acknowledged: same event_id, a retry header
            await self._delivered(await self.sender.reaction(user, channel, ts, name, removed=remove, event_id=event_id, retry=1))

    async def press(self, member: str, custom_id: str) -> str:
        message = self.fake.message_with_action(custom_id)
        d = await self._delivered(await self.sender.press(self._user(member, False), message, custom_id))
        return self.fake.response_texts(d.token)

    async def settle(self) -> None:
        while True:
            await self.bot.adapter.wait_idle()
            await self.app.engine.drain()
            if self.bot.adapter.in_flight == 0:
                return

    def posted_texts(self) -> list[str]:
        return [t for m in self.fake.posted() for t in FakeSlack.texts_of(m)]


def events_url(port: int) -> str:
    return f"http://127.0.0.1:{port}{EVENTS_PATH}"


@dataclass
class Installed:
    status: int
    body: str
    state: str
    authorize_url: str


async def install(
    session: aiohttp.ClientSession, base: str, fake: FakeSlack, team: str, *, state: str | None = None, back_to: str = ""
) -> Installed:
    """Bolt's OAuth flow as an installer's browser goes through it: /slack/install sends it to Slack's
    consent page with a state (also set as a cookie); Slack sends it back to /slack/oauth_redirect with
    a code and the state, and the app exchanges the code (oauth.v2.access on the fake). `state`: what
    the browser brings back instead of the state it was given (a forged or replayed one); `back_to`: the
    address the redirect reaches, when another process behind the same URL takes it."""
    async with session.get(f"{base}{INSTALL_PATH}", allow_redirects=False) as r:
        assert r.status == 302, (r.status, await r.text())
        location = r.headers["Location"]
        cookie = r.headers["Set-Cookie"].split(";")[0]  # slack-app-oauth-state=…
    given = parse_qs(urlsplit(location).query)["state"][0]
    query = urlencode({"code": fake.install(team), "state": given if state is None else state})
    async with session.get(f"{back_to or base}{REDIRECT_PATH}?{query}", headers={"Cookie": cookie}, allow_redirects=False) as r:
        return Installed(r.status, await r.text(), given, location)
