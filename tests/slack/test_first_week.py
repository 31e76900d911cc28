"""Slack's first week, as a tester with real Bolt saw it: /react and /unreact with a reason, help
that names exactly the commands Slack has, and the moderators' user group chosen by an admin."""

from __future__ import annotations

import yaml
from sqlmodel import col, select

from adapters.slack.adapter import COMMANDS
from storage.tables import ReactionEventRow
from tests.slack.conftest import StartSlack
from tests.slack.fake_slack import FakeSlack
from tests.slack.test_bolt import candidates, open_round
from tests.slack.test_manifest import ROOT
from tests.support.help import named


async def test_react_and_unreact_with_a_reason_acked_at_once(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    await open_round(slack)
    first = (await candidates(slack))[0]
    d = slack.driver
    answer = await d.command("alice", f"/react {first.id} object It gives dosage advice, which clause 3 forbids.")
    assert "object" in answer.lower(), answer
    assert "object" in (await d.command("alice", f"/unreact {first.id} object")).lower()
    bad = await d.command("alice", f"/react {first.id} love it")
    assert "React with endorse, object, pass or best" in bad
    async with slack.bot.app.engine.services.uow() as uow:
        events = (await uow.session.exec(select(ReactionEventRow).order_by(col(ReactionEventRow.id)))).all()
    assert [(e.member, e.stance, e.action, e.reason) for e in events] == [
        ("UALICE", "object", "add", "It gives dosage advice, which clause 3 forbids."),
        ("UALICE", "object", "remove", ""),
    ]
    assert max(d.acks) < 3000  # Slack's window; the slow work ran in lazy listeners after the ack


async def test_help_names_exactly_the_commands_slack_has(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    shown = await slack.driver.command("alice", "/policybot")
    manifest = yaml.safe_load((ROOT / "slack-manifest.yml").read_text(encoding="utf-8"))
    in_manifest = {c["command"] for c in manifest["features"]["slash_commands"]}
    commands = {f"/{c}" for c, _ in named(shown)}
    assert commands == set(COMMANDS) == in_manifest
    assert "/help" not in shown and "/scenario import" not in shown and "/policybot moderators" in shown
    for command in sorted(commands):  # each is registered in the Bolt app: a listener acks it and answers
        delivered = await slack.driver._delivered(await slack.sender.command("UALICE", f"{command} help"))
        assert fake.response_texts(delivered.token), command
    unregistered = await slack.sender.command("UALICE", "/help")
    assert unregistered.status == 404  # what Bolt answers a command nobody listens to
    assert "/round open" in await slack.driver.command("alice", "/policybot round")
