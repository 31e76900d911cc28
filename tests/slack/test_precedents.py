"""Precedents and /try delivered the way Slack delivers them (the shared scenario)."""

from __future__ import annotations

from tests.conformance.buttons import StressCaseGenerator
from tests.conformance.precedents import run_precedent_conformance
from tests.slack.conftest import StartSlack
from tests.slack.fake_slack import FakeSlack


async def test_slack_precedents_and_try(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack(generator=StressCaseGenerator())
    await run_precedent_conformance(slack.driver)
    assert not [c for c in fake.calls if c.status != 200]
