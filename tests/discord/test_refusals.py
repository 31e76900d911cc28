"""Discord refusing the bot, through discord.py against the local fake: permissions checked from the
interaction before a round opens, a 403 later pauses the round with the fix, a refused seed reaction
does not cost the rest of the post, and a post delivered twice (same nonce) appears once."""

from __future__ import annotations

from sqlmodel import select

from adapters.discord.chat import DiscordChat
from bot.domain.outputs import Post
from storage.tables import CandidateRow, RoundRow
from tests.conformance.scenario import POLICY_TEXT
from tests.discord.conftest import StartBot
from tests.discord.driver import DiscordDriver
from tests.discord.fake_discord import BOT_PERMISSIONS, CREATE_PUBLIC_THREADS, EMBED_LINKS, FakeDiscord
from tests.discord.test_bot import driver, open_round


async def setup(d: DiscordDriver) -> None:
    assert "Created policy" in await d.command("mod", "/policy create kind " + POLICY_TEXT, moderator=True)
    assert "Added scenario #1" in await d.command("mod", "/scenario add Question?", moderator=True)


async def test_missing_permissions_refuse_the_open_with_the_fix(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await setup(d)
    fake.app_permissions = BOT_PERMISSIONS & ~CREATE_PUBLIC_THREADS & ~EMBED_LINKS
    reply = await d.command("mod", "/round open kind scenarios=1 k=2", moderator=True)
    assert "grant policybot Embed Links, Create Public Threads in #policy" in reply and "Nothing was stored" in reply
    async with bot.app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(RoundRow))).all() == []


async def test_a_403_later_pauses_the_round_and_says_how_to_resume(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=1, k=2)
    fake.forbidden.add(fake.channel_id)
    reply = await d.command("mod", "/round advance 1", moderator=True)
    assert "moved to AMEND" in reply and "Missing Permissions" in reply and "/round resume 1" in reply, reply
    assert "nothing was changed" not in reply
    async with bot.app.engine.services.uow() as uow:
        r = await uow.session.get(RoundRow, 1)
    assert r is not None and r.phase == "amend" and r.paused_remaining_seconds is not None
    fake.forbidden.clear()
    resumed = await d.command("mod", "/round resume 1", moderator=True)
    assert "running again" in resumed and any("amendments are open" in t for t in d.posted_texts()), resumed


async def test_a_refused_seed_reaction_does_not_cost_the_rest_of_the_post(fake: FakeDiscord, start_bot: StartBot) -> None:
    fake.forbidden_reactions = True
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=2, k=2)
    async with bot.app.engine.services.uow() as uow:
        cands = (await uow.session.exec(select(CandidateRow))).all()
    assert len(cands) == 4 and all(c.message_key for c in cands)  # every candidate posted and remembered


async def test_the_same_post_delivered_twice_appears_once(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    chat = bot.app.engine.services.chat
    assert isinstance(chat, DiscordChat)
    post = Post(str(fake.channel_id), "Round #9 · scenario 1", "a long text " * 800, start_thread="Round 9 · scenario 1")
    first = await chat.post(post, delivery_key="round:9:scenario:1")
    posted = len(fake.posted_messages())
    again = await chat.post(post, delivery_key="round:9:scenario:1")  # a restart between the post and its mark
    assert first == again and len(fake.posted_messages()) == posted  # the post and its continuations, once each
    assert len(fake.threads) == 1
