"""What a real community meets in its first week on Discord, through discord.py against the local
fake: a redelivered interaction acts once, a refused reaction is explained once and taken off,
commands synced to a guild and then globally never show twice, and round threads stay open while
their round runs."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import func, select

from bot.domain.model import Stance
from storage.tables import AmendmentRow, ReactionEventRow, RoundRow
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


# ---------------------------------------------------------------- a refused reaction: explained once, taken off


async def test_a_refused_reaction_is_taken_off_and_explained_once(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=1)
    for _ in range(2):  # REVIEW → AMEND → CLOSED (no amendment was proposed)
        await d.command("mod", "/round advance 1", moderator=True)
    await d.settle()
    alice = fake.member("alice")

    async def react(message: dict[str, Any], emoji: str, **changes: Any) -> None:
        payload = fake.reaction(alice, message, emoji) | changes
        await d.deliver("MESSAGE_REACTION_ADD", payload)
        await d.handled()

    first, second = await d.candidate_message(1), await d.candidate_message(2)
    await react(first, "👍")
    # Discord tells the gateway that the reaction is gone; that removal is refused too, silently
    d.expected += 1
    await d.handled()
    assert fake.removed_reactions == [(int(first["channel_id"]), int(first["id"]), "👍", alice.id)]
    told = fake.direct_messages(alice)
    assert told == ["⚠️ Your 👍 was not counted: Round #1 is closed; reactions are no longer recorded. It was taken off."]
    await react(second, "👎")
    d.expected += 1
    await d.handled()
    assert len(fake.removed_reactions) == 2  # taken off again, but the member is not told twice
    assert fake.direct_messages(alice) == told

    # on a post of the bot that is not a candidate: the same, with its own reason
    announcement = fake.message_titled("Policy round #1")
    await react(announcement, "👍")
    d.expected += 1
    await d.handled()
    assert "not a candidate" in fake.direct_messages(alice)[-1]
    # on a member's own message the bot never touches a reaction, nor says anything
    await react(announcement, "🤷", message_author_id=str(alice.id))
    assert len(fake.removed_reactions) == 3 and len(fake.direct_messages(alice)) == 2

    # where policybot lacks Manage Messages, the reaction stays and the member is told so, once
    fake.manage_messages = False
    bob = fake.member("bob")
    payload = fake.reaction(bob, first, "👍")
    await d.deliver("MESSAGE_REACTION_ADD", payload)
    await d.handled()
    assert len(fake.removed_reactions) == 3
    [note] = fake.direct_messages(bob)
    assert "cannot take it off (it lacks Manage Messages" in note and "remove it yourself" in note


# ---------------------------------------------------------------- commands registered in one scope at a time


def shown_in(fake: FakeDiscord, guild_id: int) -> list[str]:
    """The commands a member of the server sees: the global ones and the server's own, as Discord lists them."""
    return sorted(c["name"] for scope in ("global", str(guild_id)) for c in fake.synced.get(scope, []))


async def test_developing_in_a_server_then_going_global_never_shows_a_command_twice(
    fake: FakeDiscord, start_bot: StartBot
) -> None:
    development = await start_bot(guild_id=fake.guild_id)  # `policybot run discord --guild …`
    names = sorted(c["name"] for c in fake.synced[str(fake.guild_id)])
    assert len(names) == 15 and fake.synced["global"] == []
    await development.stop()

    production = await start_bot()  # then `policybot run discord`: global, and the server's copy cleared
    assert fake.synced[str(fake.guild_id)] == [] and shown_in(fake, fake.guild_id) == names
    await production.stop()
    again = await start_bot()  # nothing left to clear: the server is cleared once
    puts = [c for c in fake.calls if c.method == "PUT" and f"/guilds/{fake.guild_id}/commands" in c.path]
    assert len(puts) == 2 and shown_in(fake, fake.guild_id) == names
    await again.stop()

    await start_bot(guild_id=fake.guild_id)  # and back to development: the global commands are cleared
    assert fake.synced["global"] == [] and shown_in(fake, fake.guild_id) == names


# ---------------------------------------------------------------- round threads stay open while the round runs


def unarchives(fake: FakeDiscord, thread_id: int) -> int:
    return sum(
        1 for c in fake.calls if c.method == "PATCH" and c.path == f"/channels/{thread_id}" and c.body == {"archived": False}
    )


async def test_a_running_rounds_thread_archived_by_discord_is_opened_again(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=2)
    first, second = sorted(fake.threads)
    assert all(t["thread_metadata"]["auto_archive_duration"] == 10080 for t in fake.threads.values())

    # a week without a message: Discord archives the thread and tells the gateway
    await fake.archive_thread(first)
    await fake.wait_for(lambda: not fake.threads[first]["thread_metadata"]["archived"])
    assert unarchives(fake, first) == 1 and unarchives(fake, second) == 0
    # members can react there again
    await d.react("alice", 1, Stance.ENDORSE)
    assert await count(bot, select(func.count()).select_from(ReactionEventRow)) == 1

    # archived while no bot was connected: the sweep when the gateway is ready opens it again
    await bot.stop()
    await fake.archive_thread(second, tell=False)
    again = await start_bot()
    await fake.wait_for(lambda: not fake.threads[second]["thread_metadata"]["archived"])
    assert unarchives(fake, second) == 1 and unarchives(fake, first) == 1
    assert await again.client.threads.sweep() == 0  # nothing else to open

    # a thread a moderator locked stays as it is; and once the round is over, threads archive for good
    keeper = again.client.threads
    await asyncio.wait_for(keeper.wait_updates(1), 20)  # Discord's word that it is open again
    seen = keeper.updates
    await fake.archive_thread(first, locked=True)
    await asyncio.wait_for(keeper.wait_updates(seen + 1), 20)
    await driver(fake, again).command("mod", "/round cancel 1", moderator=True)
    await fake.archive_thread(second)
    await asyncio.wait_for(keeper.wait_updates(seen + 2), 20)
    assert unarchives(fake, first) == 1 and unarchives(fake, second) == 1
    assert await again.client.threads.sweep() == 0
