"""Every button template of the core's one list works on Discord after a restart: the button is posted
by one bot process, and a press on it is handled by the next (a new client and app on the same
database, nothing in memory), through discord.py's DynamicItem dispatch."""

from __future__ import annotations

import pytest

from bot.domain.outputs import Button, Post
from bot.inbound.actions import BUTTON_TEMPLATES, ButtonTemplate
from tests.conformance.buttons import BUTTON_CASES, StressCaseGenerator
from tests.discord.conftest import StartBot
from tests.discord.driver import DiscordDriver
from tests.discord.fake_discord import FakeDiscord


@pytest.mark.parametrize("template", BUTTON_TEMPLATES, ids=lambda t: t.name)
async def test_a_press_on_a_button_posted_by_an_earlier_process_is_handled(
    fake: FakeDiscord, start_bot: StartBot, template: ButtonTemplate
) -> None:
    setup, check = BUTTON_CASES[template.name]
    first = await start_bot(generator=StressCaseGenerator())
    custom_id = await setup(DiscordDriver(fake, first.client, first.app))
    assert template.pattern.fullmatch(custom_id)
    posted = fake.message_with_custom_id(custom_id)
    button = next(c for row in posted["components"] for c in row["components"] if c["custom_id"] == custom_id)
    assert not button.get("disabled"), button  # a member can press it
    await first.stop()

    second = await start_bot(generator=StressCaseGenerator())  # nothing of the first process in memory
    answer = await DiscordDriver(fake, second.client, second.app).press("bob", custom_id)
    await check(second.app, answer)


async def test_a_button_that_is_not_policybots_is_shown_inert(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    key = await bot.app.engine.services.chat.post(
        Post(str(fake.channel_id), "Old", "An old message.", buttons=(Button("policybot:retired:1", "Old"),))
    )
    message = fake.messages[int(key.split(":")[1])]
    assert message["components"][0]["components"][0]["disabled"] is True
