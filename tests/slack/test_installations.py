"""OAuth mode: several workspaces install the app through Bolt's OAuth flow (against the fake's
oauth.v2.access), their installations live in our database through slack_sdk's own SQLAlchemy
stores, and every Web API call, from a request or from the scheduler and the outbox, goes with the
token of the workspace it concerns. An uninstall deletes that workspace's tokens and keeps its data;
its later posts are refused, saying so, and the other workspace goes on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, Table, func, update
from sqlmodel import col, select

from adapters.slack.run import run
from adapters.slack.settings import SlackSettings
from bot.domain.outputs import Post
from bot.ports import ChatRefused
from bot.settings import Settings
from storage.tables import (
    SLACK_BOTS,
    SLACK_INSTALLATIONS,
    SLACK_OAUTH_STATES,
    PolicyRow,
    RoundRow,
    slack_bots,
    slack_installations,
    slack_oauth_states,
)
from tests.slack.conftest import RunningSlack, StartSlack
from tests.slack.driver import CHANNEL, install
from tests.slack.fake_slack import BOT_TOKEN, CLIENT_ID, TEAM, Call, FakeSlack

POLICY = "/policy create kind 1. Be kind to every member. 2. Cite a source for factual claims."


@dataclass(frozen=True)
class Workspace:
    team: str
    channel: str
    mod: str


A = Workspace(TEAM, CHANNEL, "UMODA")
B = Workspace("T0SECOND", "C0SECOND", "UMODB")
ALL = (A, B)


def base(slack: RunningSlack) -> str:
    return slack.sender.url.rsplit("/slack/", 1)[0]


async def installed(slack: RunningSlack, fake: FakeSlack, *workspaces: Workspace) -> None:
    fake.tokens.pop(BOT_TOKEN, None)  # OAuth mode: the only tokens are those the installs got
    for w in workspaces:
        done = await install(slack.sender.session, base(slack), fake, w.team)
        assert done.status == 200, done.body
        fake.user(w.mod, admin=True)


async def say(slack: RunningSlack, w: Workspace, line: str, user: str | None = None) -> str:
    d = await slack.sender.command(user or w.mod, line, channel=w.channel, team=w.team)
    await slack.driver._delivered(d)
    return slack.driver.fake.response_texts(d.token)


async def open_round(slack: RunningSlack, w: Workspace, number: int) -> None:
    assert "Created policy" in await say(slack, w, POLICY)
    assert "Added scenario" in await say(slack, w, "/scenario add How do I treat a small burn?")
    opened = await say(slack, w, f"/round open kind scenarios={number} k=2")
    assert f"Opening round #{number}" in opened, opened
    await slack.driver.settle()


async def rows(slack: RunningSlack, table: Table, team: str) -> int:
    async with slack.bot.app.database.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.team_id == team)
        return int((await conn.execute(query)).scalar_one())


async def deadlines_pass(slack: RunningSlack) -> None:
    """Every open round's deadline is past: the scheduler moves them, and the outbox posts it (no request)."""
    async with slack.bot.app.engine.services.uow() as uow:
        await uow.session.exec(update(RoundRow).values(phase_ends_at=datetime.now(UTC) - timedelta(minutes=1)))
        await uow.commit()
    await slack.bot.app.scheduler.reconcile_all()
    await slack.bot.app.engine.drain()


def owner(call: Call) -> str | None:
    """The workspace a recorded call concerns, from its channel or user (None when it names neither)."""
    teams = {w.channel: w.team for w in ALL} | {w.mod: w.team for w in ALL} | {"D" + w.mod[1:]: w.team for w in ALL}
    for key in ("channel", "channel_id", "user", "users"):
        if key in call.args:
            return teams.get(str(call.args[key]))
    return None


def tokens_by_workspace(fake: FakeSlack, calls: list[Call]) -> dict[str, set[str]]:
    """Which workspace's tokens the calls about each workspace used."""
    used: dict[str, set[str]] = {}
    for c in calls:
        team = owner(c)
        if team is not None:
            used.setdefault(team, set()).add(fake.tokens.get(c.token, f"unknown token {c.token!r}"))
    return used


# ---------------------------------------------------------------- the tables are the library's


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (slack_installations, AsyncSQLAlchemyInstallationStore.build_installations_table(MetaData(), SLACK_INSTALLATIONS)),
        (slack_bots, AsyncSQLAlchemyInstallationStore.build_bots_table(MetaData(), SLACK_BOTS)),
        (slack_oauth_states, AsyncSQLAlchemyOAuthStateStore.build_oauth_states_table(MetaData(), SLACK_OAUTH_STATES)),
    ],
)
def test_our_tables_are_the_stores_own(ours: Table, theirs: Table) -> None:
    def shape(table: Table) -> list[tuple[str, str, bool, bool]]:
        return [(c.name, repr(c.type), bool(c.nullable), bool(c.primary_key)) for c in table.columns]

    def indexes(table: Table) -> set[tuple[str | None, tuple[str, ...]]]:
        return {(i.name, tuple(c.name for c in i.columns)) for i in table.indexes}

    assert shape(ours) == shape(theirs)
    assert indexes(ours) == indexes(theirs)


# ---------------------------------------------------------------- two workspaces, their own tokens


async def test_two_workspaces_installed_through_the_flow_each_use_their_own_token(
    fake: FakeSlack, start_slack: StartSlack
) -> None:
    slack = await start_slack(oauth=True)
    await installed(slack, fake, A, B)
    assert [await rows(slack, slack_bots, w.team) for w in ALL] == [1, 1]
    assert len(fake.tokens_of(A.team)) == len(fake.tokens_of(B.team)) == 1
    assert not fake.tokens_of(A.team) & fake.tokens_of(B.team)
    start = len(fake.calls)

    for number, w in enumerate(ALL, 1):  # commands, and the posts they make
        await open_round(slack, w, number)
    await deadlines_pass(slack)  # the scheduler's transitions, posted by the outbox outside any request
    for w in ALL:  # a DM with a file: /privacy show sends the member's data to her direct messages
        assert await say(slack, w, "/privacy show")
    await slack.driver.settle()

    calls = fake.calls[start:]
    assert all(c.status == 200 for c in calls)
    assert not [c for c in calls if c.token not in fake.tokens], "a call with a token Slack never issued"
    used = tokens_by_workspace(fake, calls)
    assert used == {A.team: {A.team}, B.team: {B.team}}, used
    for w in ALL:
        posted = [c for c in calls if c.method == "chat.postMessage" and c.args["channel"] == w.channel]
        assert any("amendments are open" in str(c.args.get("text", "")).lower() or c.args.get("blocks") for c in posted)
        assert {fake.tokens[c.token] for c in posted} == {w.team}
        dm = [c for c in calls if c.method == "conversations.open" and c.args["users"] == w.mod]
        assert dm and {fake.tokens[c.token] for c in dm} == {w.team}
        members = [c for c in calls if c.method == "users.info" and c.args["user"] == w.mod]
        assert members and {fake.tokens[c.token] for c in members} == {w.team}  # moderator checks too
    async with slack.bot.app.engine.services.uow() as uow:
        phases = (await uow.session.exec(select(RoundRow.community, RoundRow.phase).order_by(col(RoundRow.id)))).all()
    assert [tuple(p) for p in phases] == [(A.team, "amend"), (B.team, "amend")]


async def test_an_uninstalled_workspace_loses_its_tokens_keeps_its_data_and_its_posts_are_refused(
    fake: FakeSlack, start_slack: StartSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack = await start_slack(oauth=True)
    other = await start_slack(oauth=True)  # a second process on the same database
    await installed(slack, fake, A, B)
    for number, w in enumerate(ALL, 1):
        await open_round(slack, w, number)
    stale = await other.bot.chat.workspaces.client(B.team)  # the other process has B's token in hand

    fake.uninstall(B.team)  # Slack revokes B's tokens and tells the app
    event = await slack.sender.event({"type": "app_uninstalled"}, team=B.team)
    assert event.status == 200
    assert [await rows(slack, t, B.team) for t in (slack_bots, slack_installations)] == [0, 0]
    assert [await rows(slack, t, A.team) for t in (slack_bots, slack_installations)] == [1, 1]
    async with slack.bot.app.engine.services.uow() as uow:
        kept = (await uow.session.exec(select(PolicyRow.community).order_by(col(PolicyRow.id)))).all()
        assert list(kept) == [A.team, B.team]  # the workspace's data stays

    revoked = fake.tokens_of(B.team)
    after = len(fake.calls)
    caplog.set_level(logging.WARNING, "policybot")
    await deadlines_pass(slack)  # both rounds move; B's posts cannot go out
    async with slack.bot.app.engine.services.uow() as uow:
        b_round = (await uow.session.exec(select(RoundRow).where(RoundRow.community == B.team))).one()
        a_round = (await uow.session.exec(select(RoundRow).where(RoundRow.community == A.team))).one()
    assert b_round.phase == "amend" and b_round.paused_remaining_seconds is not None  # paused, not retried in a loop
    assert f"no longer installed in the Slack workspace {B.team}" in b_round.note
    assert a_round.phase == "amend" and a_round.paused_remaining_seconds is None
    assert not [c for c in fake.calls[after:] if c.token in revoked], "a call with the uninstalled workspace's token"
    assert [c for c in fake.calls[after:] if c.method == "chat.postMessage" and c.args["channel"] == A.channel]

    # the other process still held B's token: Slack refuses it, and the refusal says what to do
    assert stale.token in revoked
    with pytest.raises(ChatRefused, match="no longer installed") as refused:
        await other.bot.chat.post(Post(B.channel, "A post", community=B.team))
    assert "install" in refused.value.refusal.remedy
    with pytest.raises(ChatRefused, match="no longer installed"):  # and then it reads the store: nothing there
        await other.bot.chat.post(Post(B.channel, "A post", community=B.team))

    # a command from B is answered by Bolt: the installation is gone; A's commands go on
    d = await slack.sender.command(B.mod, "/policy list", channel=B.channel, team=B.team)
    assert d.status == 200
    assert "no longer available" in fake.response_texts(d.token)
    assert "kind" in await say(slack, A, "/policy list")


async def test_tokens_revoked_deletes_the_bot_token(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack(oauth=True)
    await installed(slack, fake, A, B)
    fake.uninstall(A.team)
    event = {"type": "tokens_revoked", "tokens": {"bot": ["UBOTLICY"]}}
    assert (await slack.sender.event(event, team=A.team)).status == 200
    assert [await rows(slack, slack_bots, w.team) for w in ALL] == [0, 1]
    with pytest.raises(ChatRefused, match=f"no longer installed in the Slack workspace {A.team}"):
        await slack.bot.chat.post(Post(A.channel, "A post", community=A.team))


async def test_an_installer_who_erases_leaves_no_id_and_the_workspace_stays_installed(
    fake: FakeSlack, start_slack: StartSlack
) -> None:
    slack = await start_slack(oauth=True)
    await installed(slack, fake, A)
    installer = "UINST" + A.team[-4:]
    fake.user(installer)
    assert "erase" in (await say(slack, A, "/privacy erase confirm", user=installer)).lower()
    async with slack.bot.app.database.engine.connect() as conn:
        users = (await conn.execute(select(slack_installations.c.user_id))).scalars().all()
    assert users == ["[erased]"]
    assert "no longer available" not in await say(slack, A, "/policy list")  # still installed: Bolt authorizes it
    assert await rows(slack, slack_bots, A.team) == 1


# ---------------------------------------------------------------- the flow's state parameter


async def test_a_bad_state_is_refused_and_installs_nothing(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack(oauth=True)
    forged = await install(slack.sender.session, base(slack), fake, A.team, state="forged")
    assert forged.status == 400  # the state is not the browser's (no cookie for it)
    good = await install(slack.sender.session, base(slack), fake, A.team)
    assert good.status == 200
    assert "client_id=" + CLIENT_ID in good.authorize_url and "scope=commands" in good.authorize_url
    assert await rows(slack, slack_bots, A.team) == 1
    # the same state again (a replayed redirect): it was consumed, so it is refused
    async with slack.sender.session.get(
        f"{base(slack)}/slack/oauth_redirect?code={fake.install(B.team)}&state={good.state}",
        headers={"Cookie": f"slack-app-oauth-state={good.state}"},
    ) as replay:
        assert replay.status == 401
    assert await rows(slack, slack_bots, B.team) == 0
    async with slack.bot.app.database.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(slack_oauth_states))).scalar_one() == 1  # the forged try's


async def test_an_expired_state_is_refused(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack(oauth=True)
    async with slack.sender.session.get(f"{base(slack)}/slack/install", allow_redirects=False) as r:
        cookie = r.headers["Set-Cookie"].split(";")[0]
    async with slack.bot.app.database.engine.begin() as conn:  # the installer took longer than the state lives
        await conn.execute(update(slack_oauth_states).values(expire_at=datetime(2000, 1, 1)))
    state = cookie.split("=", 1)[1]
    async with slack.sender.session.get(
        f"{base(slack)}/slack/oauth_redirect?code={fake.install(A.team)}&state={state}", headers={"Cookie": cookie}
    ) as r:
        assert r.status == 401
    assert await rows(slack, slack_bots, A.team) == 0
    assert not fake.calls_to("oauth.v2.access")  # the code was never exchanged


# ---------------------------------------------------------------- modes


def test_a_half_configured_oauth_or_a_mix_of_modes_stops_with_what_to_change() -> None:
    from pydantic import SecretStr

    with pytest.raises(SystemExit, match="SLACK_CLIENT_SECRET is not set"):
        SlackSettings(client_id=CLIENT_ID).mode()
    with pytest.raises(SystemExit, match="SLACK_CLIENT_ID is not set"):
        SlackSettings(client_secret=SecretStr("s")).mode()
    with pytest.raises(SystemExit, match="pick one"):
        SlackSettings(client_id=CLIENT_ID, client_secret=SecretStr("s"), bot_token=SecretStr("xoxb-1")).mode()
    with pytest.raises(SystemExit, match="SLACK_BOT_TOKEN"):
        SlackSettings().mode()
    assert SlackSettings(bot_token=SecretStr("xoxb-1")).mode() == "token"
    assert SlackSettings(client_id=CLIENT_ID, client_secret=SecretStr("s")).mode() == "oauth"


async def test_oauth_mode_refuses_socket_mode() -> None:
    from pydantic import SecretStr

    slack = SlackSettings(client_id=CLIENT_ID, client_secret=SecretStr("s"), app_token=SecretStr("xapp-1"))
    with pytest.raises(SystemExit, match="--mode http"):
        await run(Settings(), slack, mode="socket")


async def test_single_token_mode_acks_an_uninstall_and_says_the_token_is_dead(
    fake: FakeSlack, start_slack: StartSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack = await start_slack()
    caplog.set_level(logging.WARNING, "policybot")
    assert (await slack.sender.event({"type": "app_uninstalled"})).status == 200
    assert "SLACK_BOT_TOKEN no longer works" in caplog.text
