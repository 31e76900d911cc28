"""The shared conformance scenario, delivered the way Discord delivers it."""

from __future__ import annotations

from tests.conformance.scenario import run_conformance
from tests.discord.conftest import StartBot
from tests.discord.driver import DiscordDriver
from tests.discord.fake_discord import FakeDiscord


async def test_discord_passes_conformance(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    await run_conformance(DiscordDriver(fake, bot.client, bot.app))
    assert fake.rate_limited == 0
