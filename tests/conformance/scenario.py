"""The conformance scenario: one policy round, written once against the adapter boundary.

Every adapter's tests provide a ConformanceDriver that delivers each step the way its platform
would (slash command payloads, reaction events, button presses), and call run_conformance()."""

from __future__ import annotations

from typing import Protocol

from sqlmodel import col, func, select

from bot.bootstrap import App
from bot.domain.model import Stance
from storage.tables import (
    BallotEventRow,
    CandidateRow,
    ClauseRow,
    PolicyRow,
    PolicyVersionRow,
    ReactionEventRow,
    RoundRow,
)

POLICY_TEXT = "1. Be kind to every member. 2. Cite a source for factual claims. 3. Never give medical advice."


class ConformanceDriver(Protocol):
    app: App

    async def command(self, member: str, text: str, *, moderator: bool = False) -> str: ...

    async def react(
        self, member: str, candidate_id: int, stance: Stance, *, remove: bool = False, duplicate: bool = False
    ) -> None: ...

    async def press(self, member: str, custom_id: str) -> str: ...

    async def settle(self) -> None: ...

    def posted_texts(self) -> list[str]: ...


async def _count(app: App, stmt: object) -> int:
    async with app.engine.services.uow() as uow:
        return int((await uow.session.exec(stmt)).one())  # type: ignore[call-overload]


async def run_conformance(d: ConformanceDriver) -> None:
    # A moderator writes a policy and two scenarios.
    reply = await d.command("mod", "/policy create kind " + POLICY_TEXT, moderator=True)
    assert "Created policy 'kind' v1 with 3 clause(s)" in reply, reply
    assert "Added scenario #1" in await d.command("mod", "/scenario add How do I treat a small kitchen burn?", moderator=True)
    assert "Added scenario #2" in await d.command("mod", "/scenario add Is it safe to skip breakfast?", moderator=True)

    # Only moderators open rounds; bad input is refused with a clear message and changes nothing.
    refused = await d.command("alice", "/round open kind scenarios=1,2 k=2")
    assert "Only moderators" in refused, refused
    bad = await d.command("mod", "/round open kind scenarios=1,99 k=2", moderator=True)
    assert "Unknown scenario" in bad, bad
    assert await _count(d.app, select(func.count()).select_from(RoundRow)) == 0

    opened = await d.command("mod", "/round open kind scenarios=1,2 k=2", moderator=True)
    assert "Opening round #1" in opened, opened
    await d.settle()
    posted = "\n".join(d.posted_texts())
    assert "Policy round #1" in posted and "Candidate A" in posted and "Candidate B" in posted, posted[:2000]

    async with d.app.engine.services.uow() as uow:
        candidates = list((await uow.session.exec(select(CandidateRow).order_by(col(CandidateRow.id)))).all())
    assert len(candidates) == 4 and all(c.message_key for c in candidates)
    first, second = candidates[0].id or 0, candidates[1].id or 0

    # Reactions in (one delivered twice, as platforms do) and out.
    await d.react("alice", first, Stance.ENDORSE, duplicate=True)
    await d.react("bob", first, Stance.ENDORSE)
    await d.react("carol", first, Stance.OBJECT)
    await d.react("carol", second, Stance.ENDORSE)
    await d.react("carol", second, Stance.ENDORSE, remove=True)
    await d.settle()
    assert await _count(d.app, select(func.count()).select_from(ReactionEventRow)) == 5

    refused = await d.command("alice", "/round advance 1")
    assert "Only moderators" in refused, refused
    assert "AMEND" in await d.command("mod", "/round advance 1", moderator=True)

    proposed = await d.command(
        "alice", "/amend replace 1 3 Give general first-aid information and suggest a doctor. -- too strict"
    )
    assert "Proposed amendment #1" in proposed, proposed
    voting = await d.command("mod", "/round advance 1", moderator=True)
    assert "VOTE" in voting, voting
    await d.settle()
    assert any("Amendment #1" in t for t in d.posted_texts())

    for member, choice in (("alice", "yes"), ("bob", "yes"), ("carol", "no")):
        confirmation = await d.press(member, f"policybot:ballot:1:{choice}")
        assert "recorded" in confirmation and choice in confirmation, confirmation
    assert await _count(d.app, select(func.count()).select_from(BallotEventRow)) == 3

    closed = await d.command("mod", "/round advance 1", moderator=True)
    assert "v2" in closed, closed
    await d.settle()
    async with d.app.engine.services.uow() as uow:
        s = uow.session
        policy = (await s.exec(select(PolicyRow).where(PolicyRow.name == "kind"))).one()
        v2 = (
            await s.exec(select(PolicyVersionRow).where(PolicyVersionRow.policy_id == policy.id, PolicyVersionRow.version == 2))
        ).one()
        clauses = (
            await s.exec(select(ClauseRow).where(ClauseRow.policy_version_id == v2.id).order_by(col(ClauseRow.position)))
        ).all()
        assert [c.clause_key for c in clauses] == ["c1", "c2", "c3"]
        assert clauses[2].text == "Give general first-aid information and suggest a doctor."
        assert (await s.exec(select(RoundRow.phase))).one() == "closed"
    assert any("results" in t.lower() for t in d.posted_texts())
