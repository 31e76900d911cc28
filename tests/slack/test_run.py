"""The same app over Socket Mode, and `policybot run slack` as a process serving HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import aiohttp

from adapters.slack.run import socket_mode_handler
from tests.slack.conftest import StartSlack
from tests.slack.driver import SIGNING_SECRET, SlackSender, events_url
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack

ROOT = Path(__file__).resolve().parents[2]


async def test_socket_mode_runs_the_same_app(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    handler = socket_mode_handler(slack.bot, "xapp-1-test")
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        opened = fake.calls_to("apps.connections.open")
        assert opened and opened[0].token == "xapp-1-test"  # the app-level token, on the configured API URL
        fake.user("UMOD", admin=True)
        body, token = slack.sender.command_body("UMOD", "/policy", "create kind 1. Be kind. 2. Cite sources.")
        ack = await fake.envelope("slash_commands", dict(parse_qsl(body)), "env-1")
        assert ack["envelope_id"] == "env-1"
        await slack.driver.wait_one()
        assert "Created policy 'kind' v1 with 2 clause(s)" in fake.response_texts(token)
        # an event over the socket: a reaction on a message that is not a candidate changes nothing, quietly
        event = slack.sender.event_body({"type": "reaction_added", "user": "UALICE", "reaction": "+1",
                                         "item": {"type": "message", "channel": "C1", "ts": "1.1"}})  # fmt: skip
        assert (await fake.envelope("events_api", json.loads(event), "env-2"))["envelope_id"] == "env-2"
        await slack.driver.wait_one()
        assert not fake.calls_to("chat.postEphemeral")
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_policybot_run_slack_serves_http(fake: FakeSlack, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "POLICYBOT_SLACK_API_URL": fake.api_url,
        "POLICYBOT_SLACK_RATE_LIMIT_CLOCK": "0.01",  # paced, but quick
        "POLICYBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "POLICYBOT_SLACK_HOST": "127.0.0.1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    env.pop("SLACK_APP_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "run", "slack", "--mode", "http", "--port", str(port),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(events_url(port), fake, session)
            for _ in range(300):  # the process migrates the database and starts listening
                try:
                    async with session.get(f"http://127.0.0.1:{port}/"):
                        break
                except aiohttp.ClientConnectorError:
                    assert process.returncode is None, await process.stdout.read() if process.stdout else b""
                    await asyncio.sleep(0.1)
            fake.user("UMOD", admin=True)
            sent = await sender.command("UMOD", "/policy create kind 1. Be kind.")
            assert sent.status == 200
            for _ in range(300):
                if fake.responses.get(sent.token):
                    break
                await asyncio.sleep(0.05)
            assert "Created policy 'kind' v1" in fake.response_texts(sent.token)
            assert (await sender.command("UMOD", "/policy list", secret="wrong")).status == 401
    finally:
        process.send_signal(signal.SIGINT)
        output = await asyncio.wait_for(process.communicate(), 30)
    log = output[0].decode()
    assert process.returncode in (0, 130, -2), log[-2000:]  # stopped by the interrupt, nothing else
    assert "policybot listens for Slack on http://127.0.0.1" in log and "Traceback" not in log, log[-2000:]
