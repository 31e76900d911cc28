"""A real `policybot console` is killed with SIGKILL in the middle of a round's vote, and started
again after the vote's deadline: on start-up it closes the round, once, and no reaction or ballot
acknowledged before the kill is lost. The model is litellm calling a local OpenAI-compatible server
over HTTP; the phases are seconds long (POLICYBOT_MIN_PHASE_SECONDS=1)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.openai_server import FakeOpenAIServer

WAIT = 90.0  # seconds to wait for any one line before failing (a loaded machine is slow to import litellm)


class Console:
    """A `policybot console` subprocess driven line by line through its standard input."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, cwd: Path, env: dict[str, str]) -> Console:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.cli", "console", cwd=cwd, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_for(self, needle: str, within: float = WAIT) -> str:
        end = time.monotonic() + within
        while time.monotonic() < end:
            for line in self.lines:
                if needle in line:
                    return line
            if self._reader.done():
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"no line with {needle!r} in:\n{self.output[-4000:]}")

    async def send(self, line: str, expect: str = "✓") -> str:
        """Send one command and return its reply line ('[member] ✓ …'); fail unless it contains expect."""
        assert self.proc.stdin is not None
        member = line.split(">", 1)[0].strip("*") if ">" in line.split(" ", 1)[0] else "moderator"
        before = len([x for x in self.lines if x.startswith(f"[{member}] ")])
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        end = time.monotonic() + WAIT
        while time.monotonic() < end:
            replies = [x for x in self.lines if x.startswith(f"[{member}] ")]
            if len(replies) > before:
                assert expect in replies[before], replies[before]
                return replies[before]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no reply to {line!r}:\n{self.output[-4000:]}")

    async def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no clean-up of any kind
        await self.proc.wait()
        await self._reader

    async def quit(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = await asyncio.wait_for(self.proc.wait(), WAIT)
        await self._reader
        return code


def counts(db: Path) -> dict[str, object]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        got: dict[str, object] = {
            name: conn.execute(text(f"select count(*) from {name}")).scalar_one()
            for name in ("reaction_event", "ballot_event", "tally", "policy_version", "reminder_sent")
        }
        got["phase"] = conn.execute(text("select phase from round")).scalar_one()
        got["tallies"] = [
            tuple(r) for r in conn.execute(text("select amendment_id, yes, no, abstain, adopted from tally order by 1"))
        ]
    engine.dispose()
    return got


@pytest.mark.slow
async def test_console_killed_mid_vote_closes_the_round_once_after_restart(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    db = tmp_path / "bot.db"
    env = {
        **os.environ,
        "POLICYBOT_DATABASE_URL": f"sqlite:///{db}",
        "POLICYBOT_MODEL": "openai/test-model",
        "POLICYBOT_LLM_API_BASE": openai_server.api_base,
        "OPENAI_API_KEY": "x",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "POLICYBOT_SAMPLING": "independent",
        "POLICYBOT_MAX_DRAFTS": "0",
        "POLICYBOT_PREVIEW": "false",
        "POLICYBOT_MIN_PHASE_SECONDS": "1",
        "POLICYBOT_SCHEDULER_POLL_SECONDS": "2",
    }
    first = await Console.start(tmp_path, env)
    try:
        await first.send("/policy create kind 1. Be kind. 2. Cite sources. 3. Never give medical advice.")
        await first.send("/scenario add How do I treat a small burn?")
        await first.send("/round open kind scenarios=1 k=2 review=8s amend=1h vote=1h reminders=4s")
        await first.wait_for("Candidate B (#2)")
        await first.send("alice> /react 1 endorse clear and kind")
        await first.send("bob> /react 2 object")
        await first.send("carol> /react 1 best")
        # the scheduler in this process reminds, then moves REVIEW → AMEND at the deadline
        await first.wait_for("Round #1: the review ends")
        await first.wait_for("Round #1: amendments are open")
        await first.send("alice> /amend add 1 Answer in plain language. -- clearer")
        await first.send("bob> /amend replace 1 3 Give general first-aid information and suggest a doctor. -- too strict")
        await first.send("/round advance 1")
        await first.wait_for("Round #1: the vote is open")
        await first.send("alice> /vote 1 yes")
        await first.send("alice> /vote 2 yes")
        await first.send("bob> /vote 2 yes")
        await first.send("carol> /vote 2 no")
        await first.send("alice> /vote 1 no")  # changed her mind: the latest ballot counts
        await first.send("dave> /react 2 endorse")
        deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
        await first.send(f"/round ends 1 {deadline.strftime('%Y-%m-%dT%H:%M:%SZ')}", expect="now ends")
    finally:
        await first.kill()
    assert "Round #1: results" not in first.output  # killed before the vote's deadline
    before = counts(db)
    assert (before["phase"], before["reaction_event"], before["ballot_event"], before["tally"]) == ("vote", 4, 5, 0)

    await asyncio.sleep((deadline + timedelta(seconds=1) - datetime.now(UTC)).total_seconds())  # down past the deadline
    second = await Console.start(tmp_path, env)
    try:
        await second.wait_for("Round #1: results")  # closed on start-up, before any command
        status = await second.send("/round status 1")
        assert "CLOSED" in status, status
        await second.wait_for("3 member(s) voted")
        await second.send("/policy show kind")
        await second.wait_for("3. Give general first-aid information and suggest a doctor.")
        assert "Answer in plain language" not in second.output.split("# kind v2")[-1]
    finally:
        code = await second.quit()
    assert code == 0, second.output[-3000:]
    assert second.output.count("Round #1: results") == 1
    assert "kind v2 is published with 1 adopted amendment(s)" in second.output

    third = await Console.start(tmp_path, env)  # and a later start-up finds nothing left to do
    try:
        await third.send("/round status 1")
    finally:
        assert await third.quit() == 0
    assert "results" not in third.output and "the vote closes" not in third.output

    after = counts(db)
    assert (after["phase"], after["reaction_event"], after["ballot_event"], after["policy_version"]) == ("closed", 4, 5, 2)
    # amendment 1: alice's latest ballot is no → rejected; amendment 2: alice and bob yes, carol no → adopted
    assert after["tallies"] == [(1, 0, 1, 0, 0), (2, 2, 1, 0, 1)]
