"""Rounds: open, status, advance, cancel, retry failed scenarios; members' hand-written responses."""

from __future__ import annotations

from fractions import Fraction

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from bot.domain.commands import Actor, AdvanceRound, CancelRound, ContributeResponse, OpenRound, RetryScenarios, RoundStatus
from bot.domain.model import ANONYMOUS_MODERATOR, MAX_K, AuthorKind, Phase, check_text, parse_threshold
from bot.domain.outputs import Outcome, Post, Reply, with_note
from bot.errors import CommandError
from bot.generation import diversity
from bot.generation.calls import round_totals
from bot.generation.candidates import (
    generate_more,
    generate_round,
    retry_command,
    scenarios_without_candidates,
)
from bot.privacy.naming import credit
from bot.rounds.deadlines import plan_phases, schedule_row
from bot.rounds.lifecycle import advance
from bot.rounds.outbox import (
    candidate_key,
    clear_delivery_note,
    deliver_round,
    delivery_state,
    enqueue,
    scenario_key,
    undelivered,
)
from bot.rounds.posts import candidate_post, phase_line
from bot.rounds.queries import (
    get_policy,
    get_round,
    get_version,
    latest_round,
    participants,
    policy_of_version,
    require_moderator,
    require_phase,
    round_scenarios,
    rule_of,
)
from bot.services import Services
from storage.tables import (
    AmendmentRow,
    BallotEventRow,
    CandidateRow,
    PolicyVersionRow,
    ReactionEventRow,
    RoundRow,
    RoundScenarioRow,
    ScenarioRow,
)

THRESHOLD_CHARS = 16  # RoundRow.threshold
ACTIVE = (Phase.OPENING.value, Phase.REVIEW.value, Phase.AMEND.value, Phase.VOTE.value)


def still_running(round_id: int | None, policy: str) -> CommandError:
    which = f"Round #{round_id}" if round_id is not None else "Another round"
    return CommandError(
        f"{which} on '{policy}' is still running; close or cancel it first, so two rounds do not amend the same policy at once."
    )


def check_rule_and_scenarios(cmd: OpenRound, max_scenarios: int) -> None:
    """What /round open refuses in its tally rule and its list of scenarios, before anything is looked up."""
    if cmd.quorum < 1:
        raise CommandError("The quorum must be at least 1 ballot.")
    if not 0 <= cmd.quorum_share <= 1:
        raise CommandError("The quorum share must be between 0 and 1 (e.g. 0.3 for 30% of participants).")
    if cmd.bridging_min_voters < 0:
        raise CommandError("The bridging minimum must be 0 (off) or a number of voters per group.")
    if not cmd.scenario_ids:
        raise CommandError("Choose at least one scenario: scenarios=1,2,3 (see /scenario list).")
    if len(set(cmd.scenario_ids)) != len(cmd.scenario_ids):
        raise CommandError("A scenario is listed twice.")
    if len(cmd.scenario_ids) > max_scenarios:
        raise CommandError(f"A round can have at most {max_scenarios} scenarios.")
    if not cmd.channel:
        raise CommandError("A round needs a channel to post in.")


def check_threshold(text: str) -> tuple[Fraction, bool]:
    threshold, inclusive = parse_threshold(text)
    if len(str(threshold)) > THRESHOLD_CHARS:  # kept exactly, as a fraction in a 16-character column
        raise CommandError(
            f"The threshold {text[:40]} is {threshold} as an exact fraction, too precise to keep: "
            "give at most a few digits, e.g. >1/2, >=2/3 or >=60%."
        )
    return threshold, inclusive


async def open_round(cmd: OpenRound, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "open a round")
    if not 2 <= cmd.k <= MAX_K:
        raise CommandError(f"k must be between 2 and {MAX_K} candidates per scenario (got {cmd.k}).")
    plan = plan_phases(  # scheduling: durations or explicit end times, and reminder offsets
        durations=cmd.phase_lengths(),  # the defaults, and not both a length and an end for a phase
        ends=(cmd.review_ends, cmd.amend_ends, cmd.vote_ends),
        reminders=cmd.reminders,
        now=svc.now(),
        minimum_seconds=svc.options.min_phase_seconds,
    )
    threshold, inclusive = check_threshold(cmd.threshold)
    check_rule_and_scenarios(cmd, svc.options.max_scenarios_per_round)
    refusal = await svc.chat.can_post(cmd.actor, cmd.channel)  # before any model call, before anything is stored
    if refusal is not None:
        raise CommandError(f"The round cannot open here: {refusal.describe()} Nothing was stored; open it again once fixed.")
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        policy = await get_policy(s, cmd.actor.community, cmd.policy)
        version = await get_version(s, policy, cmd.version)
        versions_of_policy = select(PolicyVersionRow.id).where(PolicyVersionRow.policy_id == policy.id)
        busy = (
            await s.exec(
                select(RoundRow.id).where(
                    RoundRow.community == cmd.actor.community,
                    col(RoundRow.phase).in_(ACTIVE),
                    col(RoundRow.policy_version_id).in_(versions_of_policy),
                )
            )
        ).first()
        if busy is not None:
            raise still_running(busy, policy.name)
        rows = (
            await s.exec(
                select(ScenarioRow).where(
                    col(ScenarioRow.id).in_(cmd.scenario_ids),
                    ScenarioRow.community == cmd.actor.community,
                    col(ScenarioRow.removed).is_(False),
                )
            )
        ).all()
        missing = sorted(set(cmd.scenario_ids) - {r.id for r in rows})
        if missing:
            raise CommandError(f"Unknown scenario(s): {', '.join(f'#{m}' for m in missing)} (see /scenario list).")
        r = RoundRow(
            community=cmd.actor.community,
            platform=cmd.actor.platform,
            channel=cmd.channel,
            policy_version_id=version.id or 0,
            policy_id=policy.id,
            phase=Phase.OPENING.value,
            k=cmd.k,
            opened_by=cmd.actor.member,
            opened_at=now,
            phase_changed_at=now,
            review_seconds=plan.review_seconds,
            amend_seconds=plan.amend_seconds,
            vote_seconds=plan.vote_seconds,
            quorum_count=cmd.quorum,
            quorum_share=cmd.quorum_share,
            threshold=str(threshold),
            threshold_inclusive=inclusive,
            bridging_min_voters=cmd.bridging_min_voters,
        )
        s.add(r)
        name = policy.name  # read now: a failed flush expires the session's objects
        try:
            await s.flush()
        except IntegrityError:  # another /round open on this policy committed since the check above
            raise still_running(None, name) from None
        for pos, sid in enumerate(cmd.scenario_ids):
            s.add(RoundScenarioRow(round_id=r.id or 0, scenario_id=sid, position=pos))
        if plan.has_schedule_row:
            s.add(schedule_row(r.id or 0, plan))
        await uow.commit()
    assert r.id is not None
    svc.spawn(generate_round(svc, r.id, cmd.actor), name=f"generate-round-{r.id}")
    n = len(cmd.scenario_ids) * cmd.k
    return Outcome(
        Reply(
            f"Opening round #{r.id} on {policy.name} v{version.version}: generating {n} candidates "
            f"({len(cmd.scenario_ids)} scenario(s) × {cmd.k}) with {svc.generator.model}. "
            "They will be posted when ready."
        )
    )


async def round_status(cmd: RoundStatus, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        r = await (get_round(s, cmd.actor.community, cmd.round_id) if cmd.round_id else latest_round(s, cmd.actor.community))
        assert r.id is not None
        policy, version = await policy_of_version(s, r.policy_version_id)
        scenarios = await round_scenarios(s, r.id)
        n_cand = (await s.exec(select(func.count()).select_from(CandidateRow).where(CandidateRow.round_id == r.id))).one()
        reactors = (
            await s.exec(select(func.count(func.distinct(ReactionEventRow.member))).where(ReactionEventRow.round_id == r.id))
        ).one()
        n_amend = (
            await s.exec(
                select(func.count())
                .select_from(AmendmentRow)
                .where(AmendmentRow.round_id == r.id, AmendmentRow.status != "withdrawn")
            )
        ).one()
        voters = (
            await s.exec(select(func.count(func.distinct(BallotEventRow.member))).where(BallotEventRow.round_id == r.id))
        ).one()
        people = await participants(s, r.id)
    lines = [
        f"Round #{r.id} on {policy.name} v{version.version}: {phase_line(r)}",
        f"{len(scenarios)} scenario(s), {n_cand} candidate(s) (k={r.k}), {reactors} member(s) reacted, "
        f"{n_amend} amendment(s), {voters} member(s) voted; {people} participant(s) in all.",
        f"Tally rule: {rule_of(r).describe()}.",
    ]
    if r.note:
        lines.append(f"Note: {r.note}")
    if cmd.actor.is_moderator:  # model spending and candidate diversity
        lines += await generation_status(svc, r.id)
    return Outcome(Reply("\n".join(lines)))


async def advance_round(cmd: AdvanceRound, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "advance a round")
    async with svc.uow() as uow:
        r = await get_round(uow.session, cmd.actor.community, cmd.round_id)
    phase = Phase(r.phase)
    if cmd.expected_phase is not None and cmd.expected_phase != phase.value:
        return Outcome(Reply(f"Round #{r.id} is already in {phase.value.upper()}; nothing changed."))
    require_phase(r, (Phase.REVIEW, Phase.AMEND, Phase.VOTE), "advance it")
    result = await advance(svc, cmd.round_id, phase, reason=f"advanced by {ANONYMOUS_MODERATOR}", answered=cmd.actor)
    if not result.changed:
        return Outcome(Reply(f"Round #{r.id} had already moved on from {phase.value.upper()}; nothing changed."))
    return Outcome(with_note(Reply(result.message), result.delivery.note()))


async def cancel_round(cmd: CancelRound, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "cancel a round")
    async with svc.uow() as uow:
        s = uow.session
        r = await get_round(s, cmd.actor.community, cmd.round_id)
        require_phase(r, (Phase.OPENING, Phase.REVIEW, Phase.AMEND, Phase.VOTE), "cancel it")
        now = svc.now()
        done = await s.exec(
            update(RoundRow)
            .where(RoundRow.id == r.id, RoundRow.phase == r.phase)  # type: ignore[arg-type]
            .values(
                phase=Phase.CANCELLED.value,
                phase_changed_at=now,
                closed_at=now,
                phase_ends_at=None,
                note=f"Cancelled by {ANONYMOUS_MODERATOR}.",
            )
        )
        if done.rowcount != 1:
            raise CommandError(f"Round #{r.id} changed phase meanwhile; try again.")
        post = Post(r.channel, f"Round #{r.id} was cancelled", f"Cancelled by {ANONYMOUS_MODERATOR}. The policy is unchanged.")
        await enqueue(s, f"round:{r.id}:cancelled", post, community=r.community, round_id=r.id)
        await uow.commit()
    return Outcome(Reply(f"Cancelled round #{r.id}."))


async def contribute_response(cmd: ContributeResponse, svc: Services) -> Outcome:
    text = check_text(cmd.text, "response")
    async with svc.uow() as uow:
        s = uow.session
        r = await get_round(s, cmd.actor.community, cmd.round_id)
        require_phase(r, (Phase.REVIEW,), "contribute a response")
        rs = (
            await s.exec(
                select(RoundScenarioRow).where(RoundScenarioRow.round_id == r.id, RoundScenarioRow.scenario_id == cmd.scenario_id)
            )
        ).first()
        if rs is None:
            raise CommandError(f"Scenario #{cmd.scenario_id} is not part of round #{r.id}.")
        mine = (
            await s.exec(
                select(CandidateRow.id).where(
                    CandidateRow.round_id == r.id,
                    CandidateRow.scenario_id == cmd.scenario_id,
                    CandidateRow.author_member == cmd.actor.member,
                    col(CandidateRow.amendment_id).is_(None),
                )
            )
        ).first()
        if mine is not None:
            raise CommandError(f"You already contributed a response to this scenario (candidate #{mine}).")
        last = (
            await s.exec(
                select(func.max(CandidateRow.position)).where(
                    CandidateRow.round_id == r.id,
                    CandidateRow.scenario_id == cmd.scenario_id,
                    col(CandidateRow.amendment_id).is_(None),
                )
            )
        ).one()
        c = CandidateRow(
            round_id=r.id or 0,
            scenario_id=cmd.scenario_id,
            position=(last if last is not None else -1) + 1,
            text=text,
            author_kind=AuthorKind.HUMAN.value,
            author_member=cmd.actor.member,
            method="human",
            created_at=svc.now(),
        )
        s.add(c)
        await s.flush()
        assert c.id is not None and r.id is not None
        parent = None if rs.thread_key else scenario_key(r.id, cmd.scenario_id)
        post = candidate_post(r, c, rs.thread_key, await credit(s, r.community, cmd.actor.member))
        await enqueue(s, candidate_key(r.id, c.id), post, community=r.community, round_id=r.id, parent=parent)
        await uow.commit()
    return Outcome(Reply(f"Your response is candidate #{c.id} in round #{r.id}; members can react to it now."))


async def retry_scenarios(cmd: RetryScenarios, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "retry scenarios")
    if len(set(cmd.scenario_ids)) != len(cmd.scenario_ids):
        raise CommandError("A scenario is listed twice.")
    async with svc.uow() as uow:
        r = await get_round(uow.session, cmd.actor.community, cmd.round_id)
        in_round = {sc.id for _, sc in await round_scenarios(uow.session, cmd.round_id)}
    if not cmd.scenario_ids and await undelivered(svc, cmd.round_id):  # posts a stopped or refused delivery left behind
        return Outcome(await deliver_missing(svc, r, cmd.actor))
    require_phase(r, (Phase.REVIEW,), "retry scenarios")
    missing = await scenarios_without_candidates(svc, cmd.round_id)
    if cmd.scenario_ids:
        strangers = [i for i in cmd.scenario_ids if i not in in_round]
        if strangers:
            raise CommandError(f"Scenario(s) {', '.join(f'#{i}' for i in strangers)} are not part of round #{r.id}.")
        done = [i for i in cmd.scenario_ids if i not in missing]
        if done:
            raise CommandError(f"Scenario(s) {', '.join(f'#{i}' for i in done)} already have candidates; nothing to retry.")
        ids = list(cmd.scenario_ids)
    else:
        if not missing:
            raise CommandError(f"Every scenario of round #{r.id} has its candidates; nothing to retry.")
        ids = missing
    svc.spawn(generate_more(svc, cmd.round_id, cmd.actor, ids, why="retry"), name=f"retry-round-{cmd.round_id}")
    listed = ", ".join(f"#{i}" for i in ids)
    return Outcome(Reply(f"Retrying {len(ids)} scenario(s) of round #{r.id}: {listed}. They will be posted when ready."))


async def deliver_missing(svc: Services, r: RoundRow, actor: Actor) -> Reply:
    """Post what a round's outbox still holds; the reply says what went out and what did not."""
    assert r.id is not None
    delivery = await deliver_round(svc, r.id, answered=actor)
    if delivery.ok:
        await clear_delivery_note(svc, r.id)
        return Reply(f"Round #{r.id}: posted the {delivery.delivered} message(s) that were missing.")
    return Reply(f"Round #{r.id}: posted {delivery.delivered} message(s); still missing: {delivery.note()}", ok=False)


async def generation_status(svc: Services, round_id: int) -> list[str]:
    """Lines for moderators in /round status: model spending and candidate diversity."""
    totals = await round_totals(svc, round_id)
    per, mean = await diversity.round_figures(svc, round_id)
    lines = [f"Model calls: {totals.describe()}."]
    if mean is not None:
        method = next(iter(per.values())).method
        detail = ", ".join(f"#{sid} {row.value:.2f}" for sid, row in sorted(per.items()))
        lines.append(f"Candidate diversity ({method}, mean pairwise distance): round {mean:.2f}; by scenario {detail}.")
    missing = await scenarios_without_candidates(svc, round_id)
    waiting, last_error = await delivery_state(svc, round_id)
    if waiting:  # delivery: posts a refusal or a stop left behind
        why = f" (last error: {last_error[:300]})" if last_error else ""
        lines.append(f"{waiting} post(s) are not out yet{why}; /round resume {round_id} or /round retry {round_id} posts them.")
    async with svc.uow() as uow:
        r = await uow.session.get(RoundRow, round_id)
    if missing and r is not None and r.phase == Phase.REVIEW.value:
        listed = ", ".join(f"#{i}" for i in missing)
        lines.append(f"Scenarios without candidates: {listed}; retry: {retry_command(round_id, missing)}")
    return lines
