"""Every button template of the core's one list works on Slack after a restart: one Bolt app posts
the button, the next (a new app on the same database, nothing in memory) answers the press, which
Bolt routes to the one `policybot:` action listener."""

from __future__ import annotations

import pytest

from bot.inbound.actions import BUTTON_TEMPLATES, ButtonTemplate
from tests.conformance.buttons import BUTTON_CASES, StressCaseGenerator
from tests.slack.conftest import StartSlack
from tests.slack.fake_slack import FakeSlack


@pytest.mark.parametrize("template", BUTTON_TEMPLATES, ids=lambda t: t.name)
async def test_a_press_on_a_button_posted_by_an_earlier_process_is_handled(
    fake: FakeSlack, start_slack: StartSlack, template: ButtonTemplate
) -> None:
    setup, check = BUTTON_CASES[template.name]
    first = await start_slack(generator=StressCaseGenerator())
    custom_id = await setup(first.driver)
    assert template.pattern.fullmatch(custom_id)
    message = fake.message_with_action(custom_id)
    assert [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]].count(custom_id) == 1
    await first.driver.settle()
    await first.runner.cleanup()  # the first process stops serving

    second = await start_slack(generator=StressCaseGenerator())
    answer = await second.driver.press("bob", custom_id)
    await check(second.bot.app, answer)
