"""What a real community meets in its first week on Discord, through discord.py against the local
fake: a redelivered interaction acts once, a refused reaction is explained once and taken off,
commands synced to a guild and then globally never show twice, and round threads stay open while
their round runs."""

from __future__ import annotations

from sqlmodel import func, select

from storage.tables import AmendmentRow, RoundRow
from tests.discord.conftest import StartBot
from tests.discord.driver import opt, reply_text, sub
from tests.discord.fake_discord import FakeDiscord
from tests.discord.test_bot import count, driver, open_round

# ---------------------------------------------------------------- a redelivered interaction acts once


async def test_a_redelivered_interaction_acts_once_and_answers_the_same(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=1)
    alice = fake.member("alice")
    payload = fake.slash(alice, "amend", sub("add", opt("round", 1), opt("text", "Answer in plain words.")))
    seq = await d.deliver("INTERACTION_CREATE", payload)
    await d.handled()
    first = reply_text(fake.followups[payload["token"]])
    assert "Proposed amendment #1" in first, first
    # a gateway resume delivers the same dispatch again: the same interaction id
    d.expected += 1
    await fake.gateway.redeliver(seq)
    await d.handled()
    assert await count(bot, select(func.count()).select_from(AmendmentRow)) == 1
    answers = [reply_text([m]) for m in fake.followups[payload["token"]]]
    assert answers[-1] == first, answers  # the replay gets the first answer again

    # a moderator's /round advance redelivered moves the round once
    mod = fake.member("mod", moderator=True)
    advance = fake.slash(mod, "round", sub("advance", opt("round", 1)))
    seq = await d.deliver("INTERACTION_CREATE", advance)
    await d.handled()
    d.expected += 1
    await fake.gateway.redeliver(seq)
    await d.handled()
    async with bot.app.engine.services.uow() as uow:
        phase = (await uow.session.exec(select(RoundRow.phase))).one()
    assert phase == "amend"
