"""Stress cases: a moderator asks the model for hard cases; any member accepts one into the round."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, func, select

from bot.domain.commands import AcceptStressCase, Actor, ProposeStressCases
from bot.domain.model import ClauseText, Phase, Turn
from bot.domain.outputs import Outcome, Reply, with_note
from bot.domain.turns import turns_json
from bot.errors import CommandError, GeneratorFailed, GeneratorUnavailable, PhaseChanged
from bot.generation.calls import CallContext, ask_structured
from bot.generation.candidates import generate_more, unreachable_message
from bot.generation.prompts import STRESS_KINDS, stress_prompt
from bot.generation.stress import MAX_PER_KIND, case_post, cases_from, cases_schema
from bot.rounds.outbox import deliver_round, enqueue, enqueue_edit
from bot.rounds.queries import clauses_of, get_round, policy_of_version, require_moderator, require_phase, still_in
from bot.services import Services
from storage.tables import RoundScenarioRow, ScenarioRow, StressCaseRow


async def propose_stress_cases(cmd: ProposeStressCases, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "ask for stress cases")
    kinds = tuple(k.strip().lower() for k in cmd.kinds)
    unknown = [k for k in kinds if k not in STRESS_KINDS]
    if unknown or not kinds:
        raise CommandError(f"Unknown stress case kind(s) {', '.join(unknown) or '(none)'}: use {', '.join(STRESS_KINDS)}.")
    if len(set(kinds)) != len(kinds):
        raise CommandError("A kind is listed twice.")
    if not 1 <= cmd.per_kind <= MAX_PER_KIND:
        raise CommandError(f"Ask for 1 to {MAX_PER_KIND} cases of each kind (got {cmd.per_kind}).")
    async with svc.uow() as uow:
        s = uow.session
        r = await get_round(s, cmd.actor.community, cmd.round_id)
        require_phase(r, (Phase.REVIEW,), "add stress cases")
        clauses = await clauses_of(s, r.policy_version_id)
        policy, _ = await policy_of_version(s, r.policy_version_id)
    target = None
    if cmd.clause is not None:
        if not 1 <= cmd.clause <= len(clauses):
            raise CommandError(f"There is no clause {cmd.clause}: the policy has clauses 1 to {len(clauses)}.")
        target = clauses[cmd.clause - 1]
    svc.spawn(_propose(svc, cmd.actor, cmd.round_id, policy.name, clauses, target, kinds, cmd.per_kind), name="stress-cases")
    where = f"clause {cmd.clause}" if target else "the whole policy"
    return Outcome(
        Reply(f"Asking {svc.generator.model} for {cmd.per_kind * len(kinds)} stress case(s) for {where}; they will be posted.")
    )


async def _propose(
    svc: Services,
    moderator: Actor,
    round_id: int,
    policy_name: str,
    clauses: list[ClauseText],
    target: ClauseText | None,
    kinds: tuple[str, ...],
    per_kind: int,
) -> None:
    n = per_kind * len(kinds)
    prompt = stress_prompt(policy_name, clauses, target, kinds, per_kind)
    try:
        answer = await ask_structured(
            svc,
            prompt,
            cases_schema(n),
            lambda data: cases_from(data, kinds, n, len(clauses)),
            CallContext(moderator.community, round_id, "stress"),
        )
    except GeneratorUnavailable as e:
        await svc.chat.reply_privately(moderator, Reply(unreachable_message(e.model, e.detail), ok=False))
        return
    except GeneratorFailed as e:
        await svc.chat.reply_privately(moderator, Reply(f"No stress cases for round #{round_id}: {e.detail}", ok=False))
        return
    now = svc.now()
    try:
        async with still_in(svc.uow, moderator.community, round_id, Phase.REVIEW) as (uow, r):
            s = uow.session
            rows = [
                StressCaseRow(
                    community=moderator.community,
                    round_id=round_id,
                    kind=kind,
                    clause_key=clauses[number - 1].key if number else (target.key if target else None),
                    prompt=text,
                    why=why,
                    proposed_by=moderator.member,
                    proposed_at=now,
                )
                for kind, number, text, why in answer.value
            ]
            s.add_all(rows)
            await s.flush()
            numbers = {c.key: c.number for c in clauses}
            for row in rows:  # the cases and their posts, in one transaction
                post = case_post(r.channel, row, numbers.get(row.clause_key or ""), round_id)
                await enqueue(s, f"round:{round_id}:stress:{row.id}", post, community=r.community, round_id=round_id)
            await uow.commit()
    except PhaseChanged:
        await svc.chat.reply_privately(
            moderator, Reply(f"Round #{round_id} left REVIEW; the stress cases were dropped.", ok=False)
        )
        return
    delivery = await deliver_round(svc, round_id, answered=moderator)
    ids = ", ".join(f"#{row.id}" for row in rows)
    done = Reply(
        f"Posted {len(rows)} stress case(s) for round #{round_id}: {ids}. Members accept them with /stress accept <case>."
    )
    await svc.chat.reply_privately(moderator, with_note(done, delivery.note()))


async def accept_stress_case(cmd: AcceptStressCase, svc: Services) -> Outcome:
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        case = await s.get(StressCaseRow, cmd.case_id)
        if case is None or case.community != cmd.actor.community:
            raise CommandError(f"There is no stress case #{cmd.case_id} in this community.")
        if case.status != "proposed":
            raise CommandError(f"Stress case #{case.id} was already accepted (scenario #{case.scenario_id}).")
        r = await get_round(s, cmd.actor.community, case.round_id)
        require_phase(r, (Phase.REVIEW,), "accept stress cases")
        count, last = (
            await s.exec(select(func.count(), func.max(RoundScenarioRow.position)).where(RoundScenarioRow.round_id == r.id))
        ).one()
        if count >= svc.options.max_scenarios_per_round:
            raise CommandError(f"Round #{r.id} already has {count} scenarios, the most a round can have.")
        scenario = ScenarioRow(
            community=cmd.actor.community,
            title=f"{case.kind} case #{case.id}"[:200],
            turns_json=turns_json((Turn("user", case.prompt),)),
            created_by=cmd.actor.member,
            created_at=now,
        )
        s.add(scenario)
        await s.flush()
        changed = await s.exec(
            update(StressCaseRow)
            .where(col(StressCaseRow.id) == case.id, col(StressCaseRow.status) == "proposed")
            .values(status="accepted", accepted_by=cmd.actor.member, scenario_id=scenario.id)
        )
        if changed.rowcount != 1:
            raise CommandError(f"Stress case #{case.id} was accepted by someone else meanwhile.")
        s.add(RoundScenarioRow(round_id=r.id or 0, scenario_id=scenario.id or 0, position=(last if last is not None else -1) + 1))
        numbers = {c.key: c.number for c in await clauses_of(s, r.policy_version_id)}
        case.status, case.accepted_by, case.scenario_id = "accepted", cmd.actor.member, scenario.id
        accepted = case_post(r.channel, case, numbers.get(case.clause_key or ""), r.id or 0)
        key = f"round:{r.id}:stress:{case.id}"
        await enqueue_edit(s, f"{key}:accepted", accepted, community=r.community, round_id=r.id, of=key, message=case.message_key)
        await uow.commit()
    assert scenario.id is not None
    svc.spawn(generate_more(svc, r.id or 0, cmd.actor, [scenario.id], why=f"stress case #{case.id}"), name=f"stress-{case.id}")
    return Outcome(
        Reply(
            f"Accepted stress case #{case.id} as scenario #{scenario.id} of round #{r.id}; "
            "its candidates will be posted when ready."
        )
    )
