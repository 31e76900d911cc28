"""A rule of the core: a post's title carries no time token; a time goes into its text (Discord renders
timestamps only in descriptions and field values, Slack's plain-text headers render no date at all).
Checked over every post and edit a whole round makes: the opening, schedule changes, reminders,
the transitions, previews, drafting, ballots, results, and a cancelled round."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.bootstrap import App, bootstrap
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance
from bot.domain.outputs import Post
from bot.scheduler import RoundScheduler
from bot.settings import Settings
from storage.database import Database
from tests.conftest import actor
from tests.scheduling.support import candidates, open_round
from tests.support.fakes import FakeChat, FakeGenerator, FixedClock

TIME_TOKEN = re.compile(r"⟦time:\d+⟧")


@pytest.fixture
async def whole_app(database: Database, chat: FakeChat, clock: FixedClock) -> AsyncIterator[App]:
    # drafting and previews on: every kind of post a round can make (the fake model's answers are not
    # JSON, so drafting fails and says so in a post of its own)
    settings = Settings(database_url=database.url, sampling="independent", max_drafts=1, preview=True, preview_scenarios=1)
    application = bootstrap(settings, chat, generator=FakeGenerator(), clock=clock, database=database)
    yield application
    await application.engine.close()


def timed_titles(posts: list[Post]) -> list[str]:
    """Titles and field names (Discord renders no timestamp there either) holding a time token."""
    found = [p.title for p in posts if TIME_TOKEN.search(p.title)]
    return found + [f.name for p in posts for f in p.fields if TIME_TOKEN.search(f.name)]


async def test_no_post_of_a_whole_round_has_a_time_in_its_title(
    whole_app: App, mod: Actor, chat: FakeChat, clock: FixedClock
) -> None:
    app, e = whole_app, whole_app.engine
    scheduler = RoundScheduler(e.services, poll_seconds=3600, reminder_offsets=(86400, 3600))
    await scheduler.start()
    try:
        t0 = clock.now()
        rid = await open_round(app, mod, quorum=1)  # review 48h, amend 24h, vote 24h

        async def at(hours: float, *commands: c.Command) -> None:
            clock.moment = t0 + timedelta(hours=hours)
            for cmd in commands:
                reply = await e.dispatch(cmd)
                assert reply.ok, reply.text
            await scheduler.reconcile_all()
            await e.drain()

        cands = await candidates(app, rid)
        await at(1, c.RecordReaction(actor("alice"), Stance.ENDORSE, "ev-1", candidate_id=cands[0]))
        await at(2, c.ExtendPhase(mod, rid, "2h"), c.ShortenPhase(mod, rid, "1h"))
        await at(3, c.SetPhaseEnd(mod, rid, "2026-11-25T13:00+00:00"), c.PausePhase(mod, rid), c.ResumePhase(mod, rid))
        await at(26)  # the 24h reminder of REVIEW
        await at(49)  # REVIEW ends: AMEND opens, drafting runs, the review's results
        await at(50, c.ProposeAmendment(actor("alice"), rid, AmendmentKind.ADD, None, "Be concise.", "shorter"))
        await at(72)  # the 1h reminder of AMEND
        await at(73)  # the vote opens, with previews and ballots
        await at(74, c.CastBallot(actor("alice"), 1, BallotChoice.YES))
        await at(96)  # the vote's reminder
        await at(98)  # the vote closes: results, a new version
        other = await open_round(app, mod, "other")
        await at(99, c.CancelRound(mod, other))
    finally:
        await scheduler.stop()

    posts = [chat.posts[k] for k in chat.order] + [p for _, p in chat.edits]
    titles = [p.title for p in posts]
    for expected in ("amendments are open", "the vote is open", "the review ends", "amendments close", "the vote closes"):
        assert any(expected in t for t in titles), (expected, titles)  # the round really went all the way
    assert sum(bool(TIME_TOKEN.search(p.text)) for p in posts) >= 6  # the times are there, in the text
    assert timed_titles(posts) == []
