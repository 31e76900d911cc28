"""Amendments (propose, withdraw, list) and ballots (cast; secret until the vote closes)."""

from __future__ import annotations

import uuid

from sqlmodel import col, func, select

from bot.domain.commands import CastBallot, ListAmendments, ProposeAmendment, WithdrawAmendment
from bot.domain.model import ANONYMOUS_MEMBER, AmendmentKind, AmendmentOrigin, AmendmentStatus, Phase, check_text
from bot.domain.outputs import Outcome, Reply
from bot.domain.tally import ANCHOR_START
from bot.errors import CommandError
from bot.privacy.naming import credit, shown_names
from bot.rounds.outbox import enqueue
from bot.rounds.posts import describe_amendment, proposal_post
from bot.rounds.queries import clauses_of, get_round, require_phase
from bot.services import Services
from storage.tables import AmendmentRow, BallotEventRow, TallyRow

MAX_PER_MEMBER = 10
ACCEPTS_AMENDMENTS = (Phase.REVIEW, Phase.AMEND)


async def propose_amendment(cmd: ProposeAmendment, svc: Services) -> Outcome:
    rationale = cmd.rationale.strip()
    if len(rationale) > 4000:
        raise CommandError(f"The rationale is {len(rationale):,} characters long; the limit is 4,000.")
    async with svc.uow() as uow:
        s = uow.session
        r = await get_round(s, cmd.actor.community, cmd.round_id)
        require_phase(r, ACCEPTS_AMENDMENTS, "propose amendments")
        clauses = await clauses_of(s, r.policy_version_id)
        n = len(clauses)
        text = ""
        if cmd.kind == AmendmentKind.ADD:
            text = check_text(cmd.text, "new clause")
            if cmd.clause is None:
                key: str | None = None
            elif cmd.clause == 0:
                key = ANCHOR_START
            elif 1 <= cmd.clause <= n:
                key = clauses[cmd.clause - 1].key
            else:
                raise CommandError(
                    f"There is no clause {cmd.clause} to add after: the policy has clauses 1 to {n} (0 = at the start)."
                )
        else:
            if cmd.clause is None or not 1 <= cmd.clause <= n:
                raise CommandError(f"Name the clause to {cmd.kind.value} by its number, 1 to {n} (got {cmd.clause}).")
            target = clauses[cmd.clause - 1]
            key = target.key
            if cmd.kind == AmendmentKind.REPLACE:
                text = check_text(cmd.text, "replacement clause")
                if text == target.text:
                    raise CommandError(f"The replacement is the same as clause {cmd.clause} as it stands.")
            elif cmd.text.strip():
                raise CommandError("A removal takes no clause text; put your reasons after ' -- '.")
        mine = (
            await s.exec(
                select(func.count())
                .select_from(AmendmentRow)
                .where(AmendmentRow.round_id == r.id, AmendmentRow.proposed_by == cmd.actor.member)
            )
        ).one()
        if mine >= MAX_PER_MEMBER:
            raise CommandError(f"You have proposed {mine} amendments in this round; the limit is {MAX_PER_MEMBER}.")
        a = AmendmentRow(
            community=cmd.actor.community,
            round_id=r.id or 0,
            kind=cmd.kind.value,
            clause_key=key,
            text=text,
            rationale=rationale,
            proposed_by=cmd.actor.member,
            origin=AmendmentOrigin.MEMBER.value,
            status=AmendmentStatus.PROPOSED.value,
            created_at=svc.now(),
        )
        s.add(a)
        await s.flush()
        numbers = {c.key: c.number for c in clauses}
        what = describe_amendment(a, numbers)
        post = proposal_post(r, a, numbers, await credit(s, r.community, cmd.actor.member))
        await enqueue(s, f"round:{r.id}:amendment:{a.id}", post, community=r.community, round_id=r.id)
        await uow.commit()
    return Outcome(Reply(f"Proposed amendment #{a.id}: {what}. Withdraw it with /amend withdraw {a.id}."))


async def withdraw_amendment(cmd: WithdrawAmendment, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        a = await s.get(AmendmentRow, cmd.amendment_id)
        if a is None or a.community != cmd.actor.community:
            raise CommandError(f"There is no amendment #{cmd.amendment_id} in this community.")
        if a.proposed_by != cmd.actor.member and not cmd.actor.is_moderator:
            raise CommandError("Only the member who proposed an amendment, or a moderator, can withdraw it.")
        if a.status != AmendmentStatus.PROPOSED.value:
            raise CommandError(f"Amendment #{a.id} is {a.status}; only a proposed amendment can be withdrawn.")
        r = await get_round(s, cmd.actor.community, a.round_id)
        require_phase(r, ACCEPTS_AMENDMENTS, "withdraw amendments")
        a.status = AmendmentStatus.WITHDRAWN.value
        s.add(a)
        await uow.commit()
    return Outcome(Reply(f"Withdrew amendment #{a.id}."))


async def list_amendments(cmd: ListAmendments, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        r = await get_round(s, cmd.actor.community, cmd.round_id)
        rows = (await s.exec(select(AmendmentRow).where(AmendmentRow.round_id == r.id).order_by(col(AmendmentRow.id)))).all()
        clause_number = {c.key: c.number for c in await clauses_of(s, r.policy_version_id)}
        tallies = {t.amendment_id: t for t in (await s.exec(select(TallyRow).where(TallyRow.round_id == r.id))).all()}
        names = await shown_names(s, r.community, [a.proposed_by for a in rows])
    if not rows:
        return Outcome(Reply(f"Round #{r.id} has no amendment yet."))
    lines = [f"Amendments of round #{r.id} ({Phase(r.phase).value.upper()}):"]
    for a in rows:
        origin = "bot draft" if a.origin == AmendmentOrigin.BOT.value else names.get(a.proposed_by, ANONYMOUS_MEMBER)
        line = f"#{a.id} [{a.status}] {describe_amendment(a, clause_number)} (by {origin})"
        t = tallies.get(a.id or 0)
        if t is not None:  # results are shown only once published
            line += f" — {t.yes} yes, {t.no} no, {t.abstain} abstain"
        lines.append(line)
    return Outcome(Reply("\n".join(lines)))


async def cast_ballot(cmd: CastBallot, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        a = await s.get(AmendmentRow, cmd.amendment_id)
        if a is None or a.community != cmd.actor.community:
            raise CommandError(f"There is no amendment #{cmd.amendment_id} in this community.")
        r = await get_round(s, cmd.actor.community, a.round_id)
        if Phase(r.phase) in (Phase.CLOSED, Phase.CANCELLED):
            raise CommandError(f"The vote of round #{r.id} has closed; ballots are no longer accepted.")
        require_phase(r, (Phase.VOTE,), "vote")
        if a.status != AmendmentStatus.PROPOSED.value:
            raise CommandError(f"Amendment #{a.id} is {a.status} and not on the ballot.")
        key = cmd.event_key or f"ballot:{uuid.uuid4()}"
        duplicate = (
            await s.exec(
                select(BallotEventRow.id).where(BallotEventRow.community == cmd.actor.community, BallotEventRow.event_key == key)
            )
        ).first()
        if duplicate is None:
            s.add(
                BallotEventRow(
                    community=cmd.actor.community,
                    round_id=r.id or 0,
                    amendment_id=a.id or 0,
                    member=cmd.actor.member,
                    choice=cmd.choice.value,
                    event_key=key,
                    at=svc.now(),
                )
            )
            await uow.commit()
    return Outcome(
        Reply(
            f"Your ballot on amendment #{a.id} is recorded: {cmd.choice.value}. It stays secret until "
            "the vote closes, and you can change it until then."
        )
    )
