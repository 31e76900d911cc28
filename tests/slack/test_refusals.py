"""Slack refusing the bot, through Bolt and slack_sdk against the local fake: a channel the bot was
not invited to refuses the open with the fix (conversations.info), and `not_in_channel` later pauses
the round, says so beside the change, and /round resume delivers what is missing."""

from __future__ import annotations

from sqlmodel import select

from storage.tables import RoundRow
from tests.slack.conftest import StartSlack
from tests.slack.driver import CHANNEL
from tests.slack.fake_slack import FakeSlack
from tests.slack.test_bolt import POLICY, open_round


async def test_a_channel_without_the_bot_refuses_the_open_with_the_fix(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    d = slack.driver
    assert "Created policy" in await d.command("mod", POLICY, moderator=True)
    assert "Added scenario" in await d.command("mod", "/scenario add Hello?", moderator=True)
    fake.not_member.add(CHANNEL)
    reply = await d.command("mod", "/round open kind scenarios=1 k=2", moderator=True)
    assert "invite @policybot" in reply and "Nothing was stored" in reply, reply
    async with slack.bot.app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(RoundRow))).all() == []
    assert not fake.calls_to("chat.postMessage")


async def test_not_in_channel_later_pauses_and_resume_delivers(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    await open_round(slack)
    d = slack.driver
    fake.refuse[CHANNEL] = "not_in_channel"
    reply = await d.command("mod", "/round advance 1", moderator=True)
    assert "moved to AMEND" in reply and "invite @policybot" in reply and "/round resume 1" in reply, reply
    async with slack.bot.app.engine.services.uow() as uow:
        r = await uow.session.get(RoundRow, 1)
    assert r is not None and r.phase == "amend" and r.paused_remaining_seconds is not None
    del fake.refuse[CHANNEL]
    resumed = await d.command("mod", "/round resume 1", moderator=True)
    assert "running again" in resumed and any("amendments are open" in t for t in d.posted_texts()), resumed
