"""Several Slack HTTP processes behind one URL, on one PostgreSQL database, in OAuth mode: two real
`policybot run slack` processes (each its own instance name), two workspaces installed through the
real OAuth flow (an install started at one process and finished at the other), each workspace's
commands sent to one process and some to the other. Every post appears once, every phase transition
happens once (both processes' schedulers race for the deadlines), and each workspace's Web API calls
use only its own token."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.database import async_url
from storage.migrate import upgrade_async
from tests.slack.driver import SIGNING_SECRET, SlackSender, events_url, install
from tests.slack.fake_slack import BOT_TOKEN, CLIENT_ID, CLIENT_SECRET, FakeSlack
from tests.slack.test_installations import ALL, POLICY, A, B, Workspace, tokens_by_workspace
from tests.slack.test_run import free_port
from tests.support.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
WAIT = 120.0  # seconds for any one step on a loaded machine (a process imports litellm, migrates, listens)


async def until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"waited {WAIT:.0f} s for {what}")


@pytest.fixture
async def pg_url(pg_database_url: str | None) -> AsyncIterator[str]:
    if pg_database_url is None:
        pytest.skip("several processes on one PostgreSQL: set POLICYBOT_TEST_DATABASE_URL")
    engine = create_async_engine(async_url(pg_database_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await upgrade_async(pg_database_url)  # before the processes start, so they do not race to migrate
    yield pg_database_url


@dataclass
class Process:
    name: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def start(name: str, url: str, fake: FakeSlack, llm: FakeOpenAIServer, tmp: Path) -> Process:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")},
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "POLICYBOT_SLACK_API_URL": fake.api_url,
        "POLICYBOT_SLACK_RATE_LIMIT_CLOCK": "0.01",  # paced, but quick
        "POLICYBOT_SLACK_HOST": "127.0.0.1",
        "POLICYBOT_DATABASE_URL": url,
        "POLICYBOT_INSTANCE": name,
        "POLICYBOT_MODEL": "openai/test-model",
        "POLICYBOT_LLM_API_BASE": llm.api_base,
        "OPENAI_API_KEY": "sk-local-test",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "POLICYBOT_LLM_WORKER": "thread",
        "POLICYBOT_MAX_DRAFTS": "0",
        "POLICYBOT_PREVIEW": "false",
        "POLICYBOT_MIN_PHASE_SECONDS": "1",
    }
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.cli", "run", "slack", "--mode", "http", "--port", str(port),
            cwd=ROOT, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    return Process(name, port, proc, log)


async def listening(p: Process, session: aiohttp.ClientSession) -> bool:
    assert p.proc.returncode is None, p.log.read_text(errors="replace")[-3000:]
    try:
        async with session.get(f"{p.base}/slack/install", allow_redirects=False) as r:
            return r.status == 302
    except aiohttp.ClientError:
        return False


@dataclass
class Running:
    procs: list[Process]
    session: aiohttp.ClientSession


@pytest.fixture
async def running(fake: FakeSlack, openai_server: FakeOpenAIServer, pg_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    """Two processes listening; stopped with an interrupt afterwards, which they must survive cleanly."""
    session = aiohttp.ClientSession()
    procs: list[Process] = []
    try:
        procs += [await start(name, pg_url, fake, openai_server, tmp_path) for name in ("slack-1", "slack-2")]
        for p in procs:
            await until(f"{p.name} to listen", lambda p=p: listening(p, session))  # type: ignore[misc]
        yield Running(procs, session)
    finally:
        for p in procs:
            if p.proc.returncode is None:
                p.proc.send_signal(signal.SIGINT)
        for p in procs:
            await asyncio.wait_for(p.proc.wait(), 30)
        await session.close()
    for p in procs:
        log = p.log.read_text(errors="replace")
        assert p.proc.returncode in (0, 130, -2), log[-3000:]
        assert "Traceback" not in log, log[-3000:]


def assert_each_post_once(fake: FakeSlack, w: Workspace) -> None:
    mine = [m for m in fake.posted() if m["channel"] == w.channel]
    firsts = [fake.texts_of(m)[0] for m in mine if not m.get("thread_ts")]
    threaded = [fake.texts_of(m)[0] for m in mine if m.get("thread_ts")]
    assert max(Counter(firsts).values()) == 1 and max(Counter(threaded).values()) == 1, (firsts, threaded)
    opened_amend = [t for t in firsts if "amendments are open" in t]
    assert len(opened_amend) == 1, firsts  # the transition happened once, whichever process made it


@pytest.mark.slow
async def test_two_processes_on_one_database_serve_two_workspaces_each_post_once(
    fake: FakeSlack, running: Running, pg_url: str
) -> None:
    fake.tokens.pop(BOT_TOKEN)  # OAuth mode: the only tokens are those the installs got
    procs, session = running.procs, running.session
    # A installs through the first process; B starts at the first and comes back to the second
    assert (await install(session, procs[0].base, fake, A.team)).status == 200
    assert (await install(session, procs[0].base, fake, B.team, back_to=procs[1].base)).status == 200
    for w in ALL:
        fake.user(w.mod, admin=True)
    senders = [SlackSender(events_url(p.port), fake, session) for p in procs]
    home = {A.team: senders[0], B.team: senders[1]}
    away = {A.team: senders[1], B.team: senders[0]}

    async def say(w: Workspace, line: str, sender: SlackSender) -> str:
        d = await sender.command(w.mod, line, channel=w.channel, team=w.team)
        assert d.status == 200, d.body

        async def answered() -> bool:
            return bool(fake.responses.get(d.token))

        await until(f"an answer to {line!r}", answered)
        return fake.response_texts(d.token)

    start_calls = len(fake.calls)
    for number, w in enumerate(ALL, 1):  # ids are global: A's scenario and round are #1, B's #2
        assert "Created policy" in await say(w, POLICY, home[w.team])
        assert "Added scenario" in await say(w, "/scenario add How do I treat a small burn?", away[w.team])
        opened = await say(w, f"/round open kind scenarios={number} k=2 review=3s", home[w.team])
        assert f"Opening round #{number}" in opened, opened
    for w in ALL:  # both processes know both workspaces
        for sender in senders:
            assert "kind" in await say(w, "/policy list", sender)

    async def both_amend() -> bool:
        return await phases(pg_url) == ["amend", "amend"]

    await until("both rounds to reach the amend phase", both_amend)  # both schedulers race for each deadline

    async def all_out() -> bool:
        return await pending(pg_url) == 0

    await until("every post to be delivered", all_out)
    calls = fake.calls[start_calls:]
    assert not [c for c in calls if c.error], [(c.method, c.error) for c in calls if c.error]
    assert tokens_by_workspace(fake, calls) == {A.team: {A.team}, B.team: {B.team}}
    for w in ALL:
        assert_each_post_once(fake, w)
    assert await message_keys_once(pg_url)
    holders = await claimed_by(pg_url)
    assert holders <= {"slack-1", "slack-2"}, holders


async def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def phases(url: str) -> list[object]:
    return [r[0] for r in await _query(url, "SELECT phase FROM round ORDER BY id")]


async def pending(url: str) -> int:
    return int(str((await _query(url, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"))[0][0]))


async def message_keys_once(url: str) -> bool:
    """Each outbox post became its own message (no two rows delivered to one message, none twice)."""
    rows = await _query(url, "SELECT message_key FROM outbox WHERE kind = 'post' AND message_key IS NOT NULL")
    keys = [r[0] for r in rows]
    return bool(keys) and len(keys) == len(set(keys))


async def claimed_by(url: str) -> set[object]:
    return {r[0] for r in await _query(url, "SELECT DISTINCT claimed_by FROM outbox WHERE claimed_by IS NOT NULL")}
