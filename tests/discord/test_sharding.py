"""Sharding: two bot processes on one database, each running one of two shards (each its own
discord.py AutoShardedClient, app, database connections and instance name), against the fake
gateway, which gives each shard only its own servers' events. Every post is made once, every
transition happens once, each server's interactions, reactions and threads are handled by the
process of its shard, and only the process with shard 0 registers the commands."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, func, select

from adapters.discord.run import Shards
from bot.domain.model import STANCE_EMOJI, Stance
from storage.tables import OutboxRow, ReactionEventRow, RoundRow
from tests.conformance.scenario import POLICY_TEXT
from tests.discord.conftest import RunningBot, StartBot
from tests.discord.driver import DiscordDriver, opt, sub
from tests.discord.fake_discord import FakeDiscord

MESSAGE_CREATE = re.compile(r"^/channels/\d+/messages$")


def shard_of(guild_id: int, count: int) -> int:
    return (guild_id >> 22) % count


def posted_nonces(fake: FakeDiscord) -> Counter[str]:
    """How often each outbox post was accepted by Discord (its nonce is derived from the outbox key)."""
    return Counter(c.body["nonce"] for c in fake.calls if c.method == "POST" and MESSAGE_CREATE.match(c.path) and c.status == 200)


def open_again(fake: FakeDiscord, thread: int) -> Callable[[], bool]:
    return lambda: not fake.threads[thread]["thread_metadata"]["archived"]


async def open_round_in(d: DiscordDriver, fake: FakeDiscord, channel: int) -> None:
    mod = fake.member("mod", moderator=True)
    create = sub("create", opt("name", "kind"), opt("text", POLICY_TEXT))
    assert "Created policy" in await d.slash(mod, "policy", create, channel_id=channel)
    assert "Added scenario" in await d.slash(mod, "scenario", sub("add", opt("prompt", "A question?")), channel_id=channel)
    scenario = "1" if channel == fake.channel_id else "2"  # scenario ids are global: the second server's is #2
    opened = await d.slash(
        mod, "round", sub("open", opt("policy", "kind"), opt("scenarios", scenario), opt("k", 2)), channel_id=channel
    )
    assert "Opening round" in opened, opened
    await d.settle()


async def test_two_processes_serving_two_shards_post_once_and_move_each_round_once(
    fake: FakeDiscord, start_bot: StartBot
) -> None:
    first_guild, first_channel = fake.guild_id, fake.channel_id
    first_shard = shard_of(first_guild, 2)
    second_guild, second_channel = fake.add_guild(shard=1 - first_shard, shard_count=2)
    bots: dict[int, RunningBot] = {}
    for shard in (0, 1):
        bots[shard] = await start_bot(shards=Shards(2, (shard,)), own_database=True)
    serving = {first_guild: bots[first_shard], second_guild: bots[1 - first_shard]}

    assert sorted(fake.gateway.identified_shards) == [(0, 2), (1, 2)]
    assert {bots[0].app.settings.instance, bots[1].app.settings.instance} == {
        "discord-shards-0-0-of-2",
        "discord-shards-1-1-of-2",
    }
    assert [c.path for c in fake.calls if c.method == "PUT"] == [f"/applications/{fake.app_id}/commands"]  # shard 0 only
    assert {g.id for g in serving[first_guild].client.guilds} == {first_guild}
    assert {g.id for g in serving[second_guild].client.guilds} == {second_guild}

    drivers = {g: DiscordDriver(fake, bot.client, bot.app) for g, bot in serving.items()}
    await open_round_in(drivers[first_guild], fake, first_channel)
    await open_round_in(drivers[second_guild], fake, second_channel)
    for guild, bot in serving.items():  # each server's interactions reached its own shard's process only
        other = serving[second_guild if guild == first_guild else first_guild]
        assert bot.client.adapter.handled == 3 and other.client.adapter.handled == 3

    # both deadlines pass; both processes' schedulers reconcile every round at once
    async with bots[0].app.engine.services.uow() as uow:
        await uow.session.exec(update(RoundRow).values(phase_ends_at=datetime.now(UTC) - timedelta(minutes=1)))
        await uow.commit()
    wakes = await asyncio.gather(bots[0].app.scheduler.reconcile_all(), bots[1].app.scheduler.reconcile_all())
    for bot in bots.values():
        await bot.app.engine.drain()
    advanced = sorted((w.round_id, w.phase.value) for both in wakes for w in both if w.kind == "advanced")
    assert advanced == [(1, "review"), (2, "review")]  # every transition once, whichever process made it
    async with bots[1].app.engine.services.uow() as uow:
        phases = (await uow.session.exec(select(RoundRow.phase))).all()
        pending = (
            await uow.session.exec(select(func.count()).select_from(OutboxRow).where(col(OutboxRow.delivered_at).is_(None)))
        ).one()
        holders = set((await uow.session.exec(select(OutboxRow.claimed_by))).all())
    assert phases == ["amend", "amend"] and pending == 0
    assert holders <= {"discord-shards-0-0-of-2", "discord-shards-1-1-of-2"}

    nonces = posted_nonces(fake)
    assert nonces and max(nonces.values()) == 1  # every post once
    for channel in (first_channel, second_channel):
        opened = [m for m in fake.channel_messages(channel) if any("amendments are open" in t for t in fake.texts_of(m))]
        assert len(opened) == 1, channel

    # a reaction in the second server reaches the second server's process, once
    message = await drivers[second_guild].candidate_message(3)
    alice = fake.member("alice")
    drivers[second_guild].expected += 1
    await fake.gateway.dispatch("MESSAGE_REACTION_ADD", fake.reaction(alice, message, STANCE_EMOJI[Stance.ENDORSE]))
    await drivers[second_guild].handled()
    assert serving[first_guild].client.adapter.handled == 3
    async with bots[0].app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(func.count()).select_from(ReactionEventRow))).one() == 1

    # a thread archived in each server is opened again by that server's process only, once
    for guild in (first_guild, second_guild):
        [thread] = [t for t, data in fake.threads.items() if data["guild_id"] == str(guild)]
        await fake.archive_thread(thread)
        await fake.wait_for(open_again(fake, thread))
        assert serving[guild].client.threads.unarchived == [thread]
    assert [await bot.client.threads.sweep() for bot in bots.values()] == [0, 0]
    unarchives = Counter(
        c.path for c in fake.calls if c.method == "PATCH" and c.path.startswith("/channels/") and c.body == {"archived": False}
    )
    assert sorted(unarchives.values()) == [1, 1]
