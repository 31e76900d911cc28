"""How members are credited: a member-written response or amendment shows "a member", never a platform
id; the member's display name only once she chooses it (/privacy name on), and her posts follow her
choice either way. Moderators' actions name the role."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, Turn
from bot.errors import CommandError
from bot.inbound.parser import parse
from bot.rounds.posts import candidate_post
from storage.tables import CandidateRow, RoundRow
from tests.conftest import actor
from tests.privacy.support import POLICY, post_texts
from tests.support.fakes import FakeChat

MEMBER_ID = "409591792120137351"


def erin(name: str = "Erin Quokka") -> Actor:
    return Actor("discord", "guild-1", MEMBER_ID, name)


async def ok(app: App, cmd: c.Command) -> str:
    reply = await app.engine.dispatch(cmd)
    assert reply.ok, reply.text
    return reply.text


def texts(chat: FakeChat) -> str:
    return "\n".join(t for p in chat.posts.values() for t in post_texts(p))


async def test_a_written_response_and_an_amendment_show_no_platform_id(app: App, chat: FakeChat) -> None:
    mod = actor("mod", moderator=True)
    await ok(app, c.CreatePolicy(mod, "kind", POLICY))
    await ok(app, c.AddScenario(mod, (Turn("user", "How do I treat a burn?"),)))
    await ok(app, c.OpenRound(mod, "kind", "general", (1,), k=2))
    await app.engine.drain()
    await ok(app, c.ContributeResponse(erin(), 1, 1, "Cool it under running water."))
    response = next(p for p in chat.posts.values() if p.subject and p.subject.kind == "candidate" and "written by" in p.title)
    assert response.title.endswith("· written by a member")
    await ok(app, c.AdvanceRound(mod, 1))
    await ok(app, c.ProposeAmendment(erin(), 1, AmendmentKind.ADD, None, "Answer in plain language."))
    await ok(app, c.AdvanceRound(mod, 1))
    assert "Amendment #1 proposed by a member (round #1)" in texts(chat)
    assert "Amendment #1 (proposed by a member)" in texts(chat)
    assert "(by a member)" in await ok(app, c.ListAmendments(actor("alice"), 1))
    assert MEMBER_ID not in texts(chat) and "Erin" not in texts(chat)
    await ok(app, c.PausePhase(mod, 1))
    assert "Paused by a moderator." in texts(chat) and "by Mod" not in texts(chat)


async def test_her_chosen_name_shows_and_her_posts_follow_her_choice(app: App, chat: FakeChat) -> None:
    mod = actor("mod", moderator=True)
    await ok(app, c.CreatePolicy(mod, "kind", POLICY))
    await ok(app, c.AddScenario(mod, (Turn("user", "How do I treat a burn?"),)))
    await ok(app, c.OpenRound(mod, "kind", "general", (1,), k=2))
    await app.engine.drain()
    await ok(app, c.ContributeResponse(erin(), 1, 1, "Cool it under running water."))
    key = next(k for k, p in chat.posts.items() if p.subject and p.subject.kind == "candidate" and "written by" in p.title)
    assert "now credited to “Erin Quokka”" in await ok(app, c.PrivacyName(erin(), named=True))
    assert chat.posts[key].title.endswith("· written by Erin Quokka")  # the earlier post follows her choice
    await ok(app, c.AdvanceRound(mod, 1))
    await ok(app, c.ProposeAmendment(erin(), 1, AmendmentKind.ADD, None, "Answer in plain language."))
    await ok(app, c.AdvanceRound(mod, 1))
    assert "Amendment #1 (proposed by Erin Quokka)" in texts(chat)
    assert "(by Erin Quokka)" in await ok(app, c.ListAmendments(actor("alice"), 1))
    assert "a member" in await ok(app, c.PrivacyName(erin(), named=False))
    assert "Erin" not in texts(chat) and MEMBER_ID not in texts(chat)  # every post of hers is back to "a member"
    refused = await app.engine.dispatch(c.PrivacyName(erin(name=""), named=True))
    assert not refused.ok and "no display name" in refused.text


def test_candidate_post_credits_never_the_id() -> None:
    now = datetime.now(UTC)
    r = RoundRow(
        id=1, community="g", platform="discord", channel="general", policy_version_id=1, phase="review", k=2,
        opened_by="mod", opened_at=now, phase_changed_at=now, review_seconds=60, amend_seconds=60, vote_seconds=60,
    )  # fmt: skip
    human = CandidateRow(
        id=7, round_id=1, scenario_id=1, position=2, text="Mine.", author_kind="human", author_member=MEMBER_ID, created_at=now
    )
    assert candidate_post(r, human, None).title == "Candidate C (#7) · written by a member"
    assert candidate_post(r, human, None, "Erin").title == "Candidate C (#7) · written by Erin"
    assert all(MEMBER_ID not in t for t in post_texts(candidate_post(r, human, None)))
    human.text = ""
    erased = candidate_post(r, human, None, "Erin")
    assert erased.title.endswith("· erased") and "Erin" not in erased.title and erased.buttons == ()


def test_parser_reads_privacy_name() -> None:
    me = erin()
    assert parse("/privacy name on", me, "g") == c.PrivacyName(me, named=True)
    assert parse("/privacy name OFF", me, "g") == c.PrivacyName(me, named=False)
    with pytest.raises(CommandError, match="/privacy name on or /privacy name off"):
        parse("/privacy name maybe", me, "g")
