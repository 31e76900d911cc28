"""Precedents and /try delivered the way Discord delivers them (the shared scenario)."""

from __future__ import annotations

from tests.conformance.buttons import StressCaseGenerator
from tests.conformance.precedents import run_precedent_conformance
from tests.discord.conftest import StartBot
from tests.discord.driver import DiscordDriver
from tests.discord.fake_discord import FakeDiscord


async def test_discord_precedents_and_try(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot(generator=StressCaseGenerator())
    await run_precedent_conformance(DiscordDriver(fake, bot.client, bot.app))
