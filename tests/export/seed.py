"""Real rounds driven through the engine, for the export tests."""

from __future__ import annotations

import random
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


@dataclass
class Crowd:
    """A scripted round of many members, with what the script left as each member's state."""

    community: str
    round_id: int
    members: dict[str, Actor]
    group_of: dict[int, tuple[int, int]]  # candidate → (scenario, amendment)
    stance: dict[tuple[str, int], tuple[Stance, str]] = field(default_factory=dict)  # (member, candidate) → (stance, reason)
    best: dict[tuple[str, tuple[int, int]], tuple[int, str]] = field(default_factory=dict)  # (member, group) → (pick, reason)
    reasons_taken_back: set[str] = field(default_factory=set)  # reasons of reactions later removed or replaced
    sent: int = 0  # reaction events sent
    human: int = 0
    amendments: list[int] = field(default_factory=list)


class _Script:
    def __init__(self, app: App, crowd: Crowd, rng: random.Random) -> None:
        self.app, self.crowd, self.rng = app, crowd, rng

    async def send(self, who: str, cand: int, stance: Stance, reason: str = "", removed: bool = False) -> None:
        self.crowd.sent += 1
        key = f"{self.crowd.community}-crowd-{self.crowd.sent}"
        await ok(
            self.app, c.RecordReaction(self.crowd.members[who], stance, key, candidate_id=cand, reason=reason, removed=removed)
        )

    async def on_candidate(self, who: str, cand: int) -> None:
        r, cr = self.rng.random(), self.crowd
        reason = f"{who}-{cand}-reason" if self.rng.random() < 0.4 else ""
        if r < 0.30:
            await self.send(who, cand, Stance.ENDORSE, reason)
            cr.stance[(who, cand)] = (Stance.ENDORSE, reason)
        elif r < 0.50:
            await self.send(who, cand, Stance.OBJECT, reason)
            cr.stance[(who, cand)] = (Stance.OBJECT, reason)
        elif r < 0.58:
            await self.send(who, cand, Stance.PASS, reason)
            cr.stance[(who, cand)] = (Stance.PASS, reason)
        elif r < 0.68:  # endorses with a reason, then objects without one
            first = f"{who}-{cand}-endorse-then-object"
            await self.send(who, cand, Stance.ENDORSE, first)
            await self.send(who, cand, Stance.OBJECT)
            cr.stance[(who, cand)] = (Stance.OBJECT, "")
            cr.reasons_taken_back.add(first)
        elif r < 0.74:  # endorses with a reason, then takes it back
            gone = f"{who}-{cand}-removed"
            await self.send(who, cand, Stance.ENDORSE, gone)
            await self.send(who, cand, Stance.ENDORSE, removed=True)
            cr.reasons_taken_back.add(gone)

    async def on_group(self, who: str, group: tuple[int, int], cands: list[int]) -> None:
        for cand in cands:
            await self.on_candidate(who, cand)
        if self.rng.random() < 0.6:
            pick = self.rng.choice(cands)
            if self.rng.random() < 0.15:  # a first pick, replaced
                other = self.rng.choice([x for x in cands if x != pick] or [pick])
                await self.send(who, other, Stance.BEST)
            reason = f"{who}-{pick}-best" if self.rng.random() < 0.5 else ""
            await self.send(who, pick, Stance.BEST, reason)
            self.crowd.best[(who, group)] = (pick, reason)


async def _candidates(app: App, round_id: int) -> list[CandidateRow]:
    async with app.engine.services.uow() as uow:
        return list(
            (
                await uow.session.exec(
                    select(CandidateRow)
                    .where(CandidateRow.round_id == round_id)
                    .order_by(col(CandidateRow.scenario_id), col(CandidateRow.amendment_id), col(CandidateRow.position))
                )
            ).all()
        )


def _by_group(rows: list[CandidateRow]) -> dict[tuple[int, int], list[int]]:
    out: dict[tuple[int, int], list[int]] = {}
    for row in rows:
        assert row.id is not None
        out.setdefault((row.scenario_id, row.amendment_id or 0), []).append(row.id)
    return out


async def seed_crowd(app: App, community: str = "guild-crowd", members: int = 25, seed: int = 7) -> Crowd:
    """A round played by `members` members through the engine: 3 scenarios (one of three turns), k = 4,
    a member-written response, reactions with reasons (some replaced, some taken back), two member
    amendments previewed in the vote, some reactions on the previews, ballots; the round closes."""
    rng = random.Random(seed)
    mod = actor("mod", moderator=True, community=community)
    names = [f"m{i:02d}" for i in range(1, members + 1)]
    crowd = Crowd(community, 0, {n: member(n, community) for n in names}, {})
    await ok(app, c.CreatePolicy(mod, "kind", POLICY))
    for turns in (
        (Turn("user", "My neighbour's dog barks all night. What can I do?"),),
        (Turn("user", "Is coffee healthy?"), Turn("assistant", "In moderation."), Turn("user", "How much a day?")),
        (Turn("user", "Can I take ibuprofen with a cold?"),),
    ):
        await ok(app, c.AddScenario(mod, turns))
    async with app.engine.services.uow() as uow:
        q = select(ScenarioRow.id).where(ScenarioRow.community == community).order_by(col(ScenarioRow.id))
        ids = [i for i in (await uow.session.exec(q)).all() if i is not None]
    await ok(app, c.OpenRound(mod, "kind", "general", tuple(ids), k=4))
    await app.engine.drain()
    async with app.engine.services.uow() as uow:
        rid = (await uow.session.exec(select(RoundRow.id).where(RoundRow.community == community))).one()
    assert rid is not None
    crowd.round_id = rid
    await ok(app, c.ContributeResponse(crowd.members["m05"], rid, ids[0], "Talk to your neighbour first, then mediation."))
    script = _Script(app, crowd, rng)
    groups = _by_group(await _candidates(app, rid))
    for who in names:
        for group, cands in groups.items():
            await script.on_group(who, group, cands)
    await ok(app, c.AdvanceRound(mod, rid))
    await ok(
        app,
        c.ProposeAmendment(crowd.members["m01"], rid, AmendmentKind.ADD, None, "Answer in at most three sentences.", "m01-why"),
    )
    await ok(
        app, c.ProposeAmendment(crowd.members["m02"], rid, AmendmentKind.REPLACE, 2, "Cite a source for every claim.", "m02-why")
    )
    await ok(app, c.AdvanceRound(mod, rid))
    await app.engine.drain()  # the previews
    rows = await _candidates(app, rid)
    crowd.human = next(r.id or 0 for r in rows if r.author_kind == "human")
    crowd.group_of = {r.id or 0: (r.scenario_id, r.amendment_id or 0) for r in rows}
    previews = {g: cands for g, cands in _by_group(rows).items() if g[1] != 0}
    assert previews, "the vote opened without previews"
    for who in names[::3]:
        for group, cands in previews.items():
            await script.on_group(who, group, cands)
    async with app.engine.services.uow() as uow:
        q2 = select(AmendmentRow.id).where(AmendmentRow.round_id == rid).order_by(col(AmendmentRow.id))
        crowd.amendments = [i for i in (await uow.session.exec(q2)).all() if i is not None]
    choices = (BallotChoice.YES, BallotChoice.YES, BallotChoice.NO, BallotChoice.ABSTAIN)
    for who in names:
        for aid in crowd.amendments:
            await ok(app, c.CastBallot(crowd.members[who], aid, rng.choice(choices), event_key=f"{community}-b-{who}-{aid}"))
    await ok(app, c.AdvanceRound(mod, rid))
    return crowd
