"""Real rounds driven through the engine, for the export tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import col, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance, Turn
from storage.tables import AmendmentRow, CandidateRow, RoundRow, ScenarioRow
from tests.conftest import actor

POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."


@dataclass
class Seeded:
    community: str
    round_id: int
    mod: Actor
    members: dict[str, Actor]
    candidates: dict[int, list[int]] = field(default_factory=dict)  # scenario → candidate ids by position
    human: int = 0  # the candidate carol wrote


def member(name: str, community: str) -> Actor:
    return actor(name, community=community)


async def ok(app: App, cmd: c.Command) -> str:
    reply = await app.engine.dispatch(cmd)
    assert reply.ok, reply.text
    return reply.text


async def seed_round(
    app: App, community: str = "guild-1", *, close: bool = True, prompt: str = "How do I treat a burn?"
) -> Seeded:
    """A round of one community: 2 scenarios × 3 model candidates + one written by carol; alice,
    bob, carol and dave react (with reasons), an amendment is voted on and, with close, adopted."""
    e = app.engine
    mod = actor("mod", moderator=True, community=community)
    names = ("alice", "bob", "carol", "dave")
    who = {n: member(n, community) for n in names}
    await ok(app, c.CreatePolicy(mod, "kind", POLICY))
    await ok(app, c.AddScenario(mod, (Turn("user", prompt),)))
    await ok(
        app,
        c.AddScenario(mod, (Turn("user", "Is coffee healthy?"), Turn("assistant", "In moderation."), Turn("user", "How much?"))),
    )
    async with app.engine.services.uow() as uow:
        ids = list(
            (
                await uow.session.exec(
                    select(ScenarioRow.id).where(ScenarioRow.community == community).order_by(col(ScenarioRow.id))
                )
            ).all()
        )
    await ok(app, c.OpenRound(mod, "kind", "general", tuple(i for i in ids if i is not None), k=3))
    await e.drain()
    async with app.engine.services.uow() as uow:
        rid = (await uow.session.exec(select(RoundRow.id).where(RoundRow.community == community))).one()
    assert rid is not None
    await ok(
        app, c.ContributeResponse(who["carol"], rid, ids[0] or 0, "Cool the burn under running water for 20 minutes. — carol")
    )
    async with app.engine.services.uow() as uow:
        rows = (
            await uow.session.exec(select(CandidateRow).where(CandidateRow.round_id == rid).order_by(col(CandidateRow.position)))
        ).all()
    seeded = Seeded(community, rid, mod, who)
    for row in rows:
        assert row.id is not None
        if row.author_kind == "human":
            seeded.human = row.id
        else:
            seeded.candidates.setdefault(row.scenario_id, []).append(row.id)
    s1, s2 = (seeded.candidates[k] for k in sorted(seeded.candidates))
    n = 0

    async def react(who_: str, cand: int, stance: Stance, reason: str = "", removed: bool = False) -> None:
        nonlocal n
        n += 1
        await ok(
            app, c.RecordReaction(who[who_], stance, f"{community}-evt-{n}", candidate_id=cand, reason=reason, removed=removed)
        )

    # alice: best A of scenario 1, endorses B, objects C (with a reason)
    await react("alice", s1[0], Stance.BEST, "alice-best-reason")
    await react("alice", s1[1], Stance.ENDORSE)
    await react("alice", s1[2], Stance.OBJECT, "alice-object-reason")
    # bob: endorses A, objects B on scenario 1; best B on scenario 2
    await react("bob", s1[0], Stance.ENDORSE, "bob-secret-reason")
    await react("bob", s1[1], Stance.OBJECT)
    await react("bob", s2[1], Stance.BEST)
    # carol: objects A, endorses her own response, passes on C
    await react("carol", s1[0], Stance.OBJECT, "carol-private-reason")
    await react("carol", seeded.human, Stance.ENDORSE)
    await react("carol", s1[2], Stance.PASS)
    # dave: endorses then removes it (nothing left), objects scenario 2's A
    await react("dave", s1[0], Stance.ENDORSE)
    await react("dave", s1[0], Stance.ENDORSE, removed=True)
    await react("dave", s2[0], Stance.OBJECT)
    # alice endorses carol's response
    await react("alice", seeded.human, Stance.ENDORSE)
    if close:
        await ok(app, c.AdvanceRound(mod, rid))
        await ok(app, c.ProposeAmendment(who["alice"], rid, AmendmentKind.ADD, None, "Be concise.", "alice-rationale"))
        await ok(app, c.AdvanceRound(mod, rid))
        async with app.engine.services.uow() as uow:
            aid = (await uow.session.exec(select(AmendmentRow.id).where(AmendmentRow.round_id == rid))).one()
        assert aid is not None
        for name, choice in (("alice", BallotChoice.YES), ("bob", BallotChoice.YES), ("carol", BallotChoice.NO)):
            await ok(app, c.CastBallot(who[name], aid, choice, event_key=f"{community}-ballot-{name}"))
        await ok(app, c.AdvanceRound(mod, rid))
    return seeded
