"""`policybot run discord` and `policybot discord invite-url`: the process as an operator starts it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import update
from sqlmodel import select
from typer.testing import CliRunner

from adapters.cli import app as cli
from adapters.discord.run import run
from adapters.discord.settings import DiscordSettings
from bot.settings import Settings
from storage.database import Database
from storage.tables import RoundRow
from tests.discord.conftest import StartBot
from tests.discord.driver import DiscordDriver
from tests.discord.fake_discord import FakeDiscord
from tests.support.fakes import FakeGenerator

TOKEN = "MTMwMDAwMDAwMDAwMDAwMDAwMQ.fake.token"  # base64 of the application id 1300000000000000001


def test_invite_url_command_prints_the_url_scopes_and_permissions() -> None:
    result = CliRunner().invoke(cli, ["discord", "invite-url"], env={"DISCORD_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    url, scopes, permissions = result.output.strip().splitlines()
    query = parse_qs(urlparse(url).query)
    assert query["client_id"] == ["1300000000000000001"]
    assert query["scope"] == ["bot applications.commands"]
    assert scopes == "scopes: bot applications.commands"
    assert permissions.startswith(f"permissions: {query['permissions'][0]} (")
    assert "Create Public Threads" in permissions and "Administrator" not in permissions

    missing = CliRunner().invoke(cli, ["discord", "invite-url"], env={"DISCORD_TOKEN": ""})
    assert missing.exit_code == 2 and "--application-id" in missing.output


async def test_run_catches_up_an_overdue_deadline_then_serves_commands(
    fake: FakeDiscord, start_bot: StartBot, database: Database
) -> None:
    # An earlier process opened a round; its REVIEW deadline passed while no bot was running.
    first = await start_bot()
    d = DiscordDriver(fake, first.client, first.app)
    await d.command("mod", "/policy create kind 1. Be kind. 2. Be brief.", moderator=True)
    await d.command("mod", "/scenario add Hello?", moderator=True)
    await d.command("mod", "/round open kind scenarios=1 k=2", moderator=True)
    await d.settle()
    await first.stop()
    async with first.app.engine.services.uow() as uow:
        past = datetime.now(UTC) - timedelta(minutes=5)
        await uow.session.exec(update(RoundRow).values(phase_ends_at=past))
        await uow.commit()

    settings = Settings(
        database_url=database.url,
        max_drafts=0,
        preview=False,
        reminders="none",
    )
    task = asyncio.create_task(run(settings, DiscordSettings(DISCORD_TOKEN=TOKEN), generator=FakeGenerator()))
    try:
        # the scheduler, started by run, moves the round on and posts it, without any command
        await fake.wait_for(lambda: any("amendments are open" in t for m in fake.posted_messages() for t in fake.texts_of(m)))
        await fake.gateway.wait_connected()
        assert fake.gateway.identifies == 2
        async with first.app.engine.services.uow() as uow:
            phase = (await uow.session.exec(select(RoundRow.phase))).first()
        assert phase == "amend"
        assert fake.synced["global"]  # registered the commands again at start-up
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_shard_ranges_and_the_names_they_give_each_process() -> None:
    from adapters.discord.run import Shards, for_shards

    assert Shards.parse(8, "0-3") == Shards(8, (0, 1, 2, 3)) and Shards.parse(8, "5") == Shards(8, (5,))
    assert Shards.parse(4, None).ids == (0, 1, 2, 3)
    assert Shards.parse(8, "4-7").instance == "discord-shards-4-7-of-8"
    assert Shards.parse(8, "0-3").registers_commands and not Shards.parse(8, "4-7").registers_commands
    for count, text in ((8, "6-9"), (8, "3-1"), (8, "a-b"), (8, "-2"), (0, None)):
        with pytest.raises(ValueError):
            Shards.parse(count, text)
    named = for_shards(Settings(), Shards.parse(8, "4-7"))
    assert named.instance == "discord-shards-4-7-of-8"
    assert for_shards(Settings(instance="blue"), Shards.parse(8, "4-7")).instance == "blue"  # POLICYBOT_INSTANCE wins

    bad = CliRunner().invoke(cli, ["run", "discord", "--shards", "0-3"], env={"DISCORD_TOKEN": TOKEN})
    assert bad.exit_code == 2 and "--shards needs --shard-count" in bad.output
    bad = CliRunner().invoke(cli, ["run", "discord", "--shard-count", "4", "--shards", "2-5"], env={"DISCORD_TOKEN": TOKEN})
    assert bad.exit_code == 2 and "not within 0-3" in bad.output
