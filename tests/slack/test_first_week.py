"""Slack's first week, as a tester with real Bolt saw it: /react and /unreact with a reason, help
that names exactly the commands Slack has, and the moderators' user group chosen by an admin."""

from __future__ import annotations

import yaml
from sqlmodel import col, select

from adapters.slack.adapter import COMMANDS
from storage.tables import CommunityModeratorGroupRow, ReactionEventRow
from tests.slack.conftest import RunningSlack, StartSlack
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


async def created(slack: RunningSlack, user: str, name: str) -> bool:
    """Whether `user` may create a policy (moderators only)."""
    sent = await slack.driver._delivered(await slack.sender.command(user, f"/policy create {name} 1. Be kind."))
    return "Created policy" in slack.driver.fake.response_texts(sent.token)


async def moderators(slack: RunningSlack, user: str, text: str) -> str:
    sent = await slack.driver._delivered(await slack.sender.command(user, f"/policybot moderators {text}".strip()))
    return slack.driver.fake.response_texts(sent.token)


async def stored(slack: RunningSlack) -> list[tuple[str | None, str]]:
    async with slack.bot.app.engine.services.uow() as uow:
        rows = (await uow.session.exec(select(CommunityModeratorGroupRow))).all()
    return [(r.group_id, r.updated_by) for r in rows]


async def test_admins_choose_the_moderators_user_group_in_slack(fake: FakeSlack, start_slack: StartSlack) -> None:
    fake.usergroups |= {"S0MODS": ["UGROUPIE"], "S0ENV": ["UENVMOD"]}
    fake.usergroup_handles["S0MODS"] = "mods"
    slack = await start_slack(moderator_group="S0ENV")  # the install's default, until an admin chooses
    fake.user("UADMIN", admin=True)
    for user in ("UGROUPIE", "UENVMOD", "UPLAIN"):
        fake.user(user)
    assert "S0ENV" in await moderators(slack, "UPLAIN", "") and "POLICYBOT_SLACK_MODERATOR_GROUP" in await moderators(
        slack, "UPLAIN", ""
    )
    assert await created(slack, "UENVMOD", "a") and not await created(slack, "UGROUPIE", "b")
    # a member who is not an admin is refused, and bad input changes nothing
    refused = await moderators(slack, "UPLAIN", "<!subteam^S0MODS|@mods>")
    assert "Only workspace admins and owners" in refused and "nothing changed" in refused
    assert "is not a user group" in await moderators(slack, "UADMIN", "mods")
    assert "Slack does not know the user group S0NOPE" in await moderators(slack, "UADMIN", "S0NOPE")
    assert "no user group @nobody" in await moderators(slack, "UADMIN", "@nobody")
    assert await stored(slack) == []
    # the group as Slack sends it when picked from the list: it counts at once (the cache is replaced)
    chosen = await moderators(slack, "UADMIN", "<!subteam^S0MODS|@mods>")
    assert "@mods (S0MODS)" in chosen and "now policybot moderators" in chosen
    assert await stored(slack) == [("S0MODS", "UADMIN")]
    assert await created(slack, "UGROUPIE", "c") and not await created(slack, "UENVMOD", "d")
    assert "@mods (S0MODS)" in await moderators(slack, "UPLAIN", "") and "chosen here" in await moderators(slack, "UPLAIN", "")
    # by handle, by id; and off, which overrides the install's default too
    assert "now policybot moderators" in await moderators(slack, "UADMIN", "@mods")
    assert "now policybot moderators" in await moderators(slack, "UADMIN", "S0ENV")
    assert "only workspace admins and owners" in await moderators(slack, "UADMIN", "off")
    assert await stored(slack) == [(None, "UADMIN")]
    assert not await created(slack, "UENVMOD", "e") and not await created(slack, "UGROUPIE", "f")
    assert await created(slack, "UADMIN", "g")
    # who chose it is her data: erased with the rest of it
    await slack.driver.command("admin", "/privacy erase confirm", moderator=True)
    assert [group for group, by in await stored(slack) if by == "UADMIN"] == []
