"""The round through Discord as Discord delivers it (slash commands, emoji reactions and buttons over
the fake gateway, real discord.py): one member does everything a member can and erases. The posts the
fake Discord holds in the round's channel and threads are edited until none shows her words, her id
or her display name; the database holds none of them either. Replies Discord showed only to her
(ephemeral answers) and her direct messages are hers and are not edited (the README says so)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select

from adapters.discord.run import build
from bot.bootstrap import App
from bot.domain.model import Stance
from bot.settings import Settings
from storage.database import Database
from storage.tables import AmendmentRow, CandidateRow
from tests.discord.conftest import fake  # noqa: F401  (the fake Discord fixture)
from tests.discord.driver import DiscordDriver
from tests.discord.fake_discord import FakeDiscord
from tests.privacy.support import POLICY, EchoingGenerator, Her, scan_database, scan_texts


def channel_posts(d: FakeDiscord) -> list[dict[str, Any]]:
    """What everyone in the server sees: the round's channel and its threads (not direct messages)."""
    shared = {str(d.channel_id), *(str(t) for t in d.threads)}
    return [m for m in d.posted_messages() if m["channel_id"] in shared]


def seen(d: FakeDiscord, her: Her) -> list[str]:
    return [h for m in channel_posts(d) for h in scan_texts(f"message {m['id']}", FakeDiscord.texts_of(m), her)]


async def rows(app: App, table: Any) -> list[Any]:
    async with app.engine.services.uow() as uow:
        return list((await uow.session.exec(select(table).order_by(col(table.id)))).all())


async def test_erasure_through_discord_edits_every_post_that_showed_her(fake: FakeDiscord, database: Database) -> None:  # noqa: F811
    settings = Settings(database_url=database.url, max_drafts=1, preview=True, preview_scenarios=2, export_secret="x" * 32)
    client, app = build(settings, generator=EchoingGenerator(), database=database, guild_ready_timeout=0.05)
    task = asyncio.create_task(client.start("MTMwMDAwMDAwMDAwMDAwMDAwMA.fake.token"))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 20)
        d = DiscordDriver(fake, client, app)
        her = Her(member=str(fake.member("quokkaerin").id), name="Quokkaerin")
        await play(d, her)
        before = seen(fake, her)
        assert any(her.name in h for h in before) and any("tamarind" in h for h in before) and any("kumquat" in h for h in before)
        assert await scan_database(database, her)

        answer = await d.command("quokkaerin", "/privacy erase confirm")
        assert answer.startswith("Erased:") and "post(s)" in answer, answer
        await d.settle()
        assert seen(fake, her) == []
        assert await scan_database(database, her) == []
        (mine,) = [a for a in await rows(app, AmendmentRow) if a.origin == "member"]
        assert mine.proposed_by == "[erased]" and mine.text == ""
        edited = [m for m in channel_posts(fake) if m.get("edited_timestamp")]
        assert len(edited) >= 8  # her scenario and its answers, her response, her amendment, the draft, previews, results
    finally:
        await client.close()
        await asyncio.wait_for(task, 20)
        await app.engine.close()


async def play(d: DiscordDriver, her: Her) -> None:
    me = "quokkaerin"

    async def say(member: str, text: str, *, moderator: bool = False) -> str:
        answer = await d.command(member, text, moderator=moderator)
        assert "✗" not in answer[:3], (text, answer)
        await d.settle()
        return answer

    await say("mod", "/policy create kind " + POLICY.replace("\n", " "), moderator=True)
    await say("mod", "/scenario add How do I treat a burn?", moderator=True)
    await say(me, f"/scenario add {her.scenario}")
    for line in ("/privacy name on", "/privacy attributes agree country=IS age=35-44", "/privacy consent yes", "/reminders off"):
        await say(me, line)
    await say("mod", "/round open kind scenarios=1,2 k=2", moderator=True)
    cands = await rows(d.app, CandidateRow)
    s1 = [c.id or 0 for c in cands if c.scenario_id == 1]
    s2 = [c.id or 0 for c in cands if c.scenario_id == 2]
    await say(me, f"/round respond 1 1 {her.response}")
    await say(me, f"/react {s1[0]} endorse {her.reason_endorse}")
    await say(me, f"/react {s1[1]} object {her.reason_object}")
    await say(me, f"/react {s1[0]} best {her.reason_best}")
    await d.react(me, s2[0], Stance.ENDORSE)
    for name in ("alice", "bob", "carol"):
        await say(name, f"/react {s1[0]} endorse {name} finds it clear")
        await d.react(name, s1[1], Stance.OBJECT)
        await d.react(name, s2[1], Stance.ENDORSE)
    await say("mod", "/stress 1 kinds=loophole", moderator=True)
    await say(me, "/stress accept 1")
    await say("mod", "/round advance 1", moderator=True)  # the bot drafts, quoting her reason
    await say(me, f"/amend replace 1 1 {her.amendment} -- {her.rationale}")
    await say("mod", "/round advance 1", moderator=True)  # previews, ballots
    for name, vote in ((me, "yes"), ("alice", "no"), ("bob", "no")):
        assert "recorded" in await d.press(name, f"policybot:ballot:2:{vote}")
        assert "recorded" in await d.press(name, "policybot:ballot:1:yes")
    await say("mod", "/round advance 1", moderator=True)
