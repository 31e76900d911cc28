"""The shared conformance scenario, delivered the way Slack delivers it."""

from __future__ import annotations

from tests.conformance.scenario import run_conformance
from tests.slack.conftest import StartSlack
from tests.slack.fake_slack import FakeSlack


async def test_slack_passes_conformance(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    await run_conformance(slack.driver)
    assert all(c.token == "xoxb-test-token" for c in fake.calls)  # every Web API call carried the bot token
    assert not [c for c in fake.calls if c.status != 200]
