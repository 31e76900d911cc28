"""/try: any member, privately, sees the model's answer to their own prompt under a policy's current
version, a past version, or the policy as a proposed amendment would make it (PolicyPad's sandbox),
and can add the prompt as a scenario (/try keep <id>).

Each member may ask for POLICYBOT_TRY_LIMIT answers in any 24 hours; a try that failed does not
count. The try is reserved (written) before the model is called, so two at once cannot both pass the
limit; the call itself goes through `ask` like every other (the answer cache, a call-log line with
its tokens and cost, the answer bounded and made storable). The prompt and the answer are kept for
/try keep; erasure (/privacy erase) blanks them, the row staying so the limit still holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.commands import KeepTry, TryPrompt
from bot.domain.model import ClauseText, aware
from bot.domain.outputs import Outcome, Reply, strip_time_tokens, time_token
from bot.domain.turns import check_turns, turns_from_json, turns_json
from bot.errors import CommandError, GeneratorFailed, GeneratorUnavailable
from bot.generation.calls import Answer, CallContext, ask
from bot.generation.preview import amended_clauses
from bot.generation.prompts import candidate_prompt
from bot.generation.sampling import parse_single
from bot.rounds.posts import describe_amendment
from bot.rounds.queries import clauses_of, get_policy, get_version, policy_of_version, scenario_title
from bot.services import Services
from storage.tables import AmendmentRow, PolicyRow, PolicyVersionRow, RoundRow, ScenarioRow, TryRow

WINDOW = timedelta(hours=24)
PENDING, OK, FAILED = "pending", "ok", "failed"


@dataclass(frozen=True, slots=True)
class Target:
    """The policy text a try runs under, and how to say which it is."""

    policy: PolicyRow
    version: PolicyVersionRow
    clauses: list[ClauseText]
    amendment_id: int | None
    what: str


async def _only_policy(s: AsyncSession, community: str) -> PolicyRow:
    rows = list((await s.exec(select(PolicyRow).where(PolicyRow.community == community).order_by(col(PolicyRow.name)))).all())
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise CommandError("This community has no policy yet: a moderator creates one with /policy create.")
    names = ", ".join(p.name for p in rows)
    raise CommandError(f"This community has several policies ({names}): name one with policy=NAME.")


async def _amendment_target(s: AsyncSession, cmd: TryPrompt) -> Target:
    a = await s.get(AmendmentRow, cmd.amendment_id)
    if a is None or a.community != cmd.actor.community:
        raise CommandError(f"There is no amendment #{cmd.amendment_id} in this community.")
    if cmd.version is not None:
        raise CommandError("Give version=N or amendment=ID, not both: an amendment changes the version its round is on.")
    r = await s.get(RoundRow, a.round_id)  # the amendment's round: the version it amends
    assert r is not None
    policy, version = await policy_of_version(s, r.policy_version_id)
    if cmd.policy is not None and cmd.policy != policy.name:
        raise CommandError(f"Amendment #{a.id} amends {policy.name}, not {cmd.policy[:64]}.")
    clauses = await clauses_of(s, r.policy_version_id)
    change = describe_amendment(a, {c.key: c.number for c in clauses})
    what = f"{policy.name} v{version.version} as amendment #{a.id} ({a.status}) would make it: {change}"
    return Target(policy, version, amended_clauses(clauses, a), a.id, what)


async def resolve(s: AsyncSession, cmd: TryPrompt) -> Target:
    if cmd.amendment_id is not None:
        return await _amendment_target(s, cmd)
    policy = await get_policy(s, cmd.actor.community, cmd.policy) if cmd.policy else await _only_policy(s, cmd.actor.community)
    version = await get_version(s, policy, cmd.version)
    latest = await get_version(s, policy, None)
    assert version.id is not None
    when = "the current version" if version.id == latest.id else f"a past version; the current one is v{latest.version}"
    return Target(policy, version, await clauses_of(s, version.id), None, f"{policy.name} v{version.version} ({when})")


async def _counted(s: AsyncSession, community: str, member: str, since: datetime, up_to: int | None = None) -> list[datetime]:
    """When the member's tries that count (not failed) in the window were made, oldest first."""
    q = select(TryRow.at).where(
        TryRow.community == community, TryRow.member == member, TryRow.at > since, TryRow.outcome != FAILED
    )
    if up_to is not None:
        q = q.where(col(TryRow.id) <= up_to)
    return [aware(t) or t for t in (await s.exec(q.order_by(col(TryRow.at)))).all()]


def _refusal(limit: int, oldest: datetime) -> CommandError:
    return CommandError(
        f"You have used your {limit} tries of the last 24 hours; the next one is free at {time_token(oldest + WINDOW)}."
    )


async def try_prompt(cmd: TryPrompt, svc: Services) -> Outcome:
    limit = svc.options.try_limit
    if limit <= 0:
        raise CommandError("/try is turned off on this bot (POLICYBOT_TRY_LIMIT is 0).")
    turns = check_turns(cmd.turns, "prompt")
    now = svc.now()
    since = now - WINDOW
    who = cmd.actor
    async with svc.uow() as uow:
        s = uow.session
        target = await resolve(s, cmd)
        used = await _counted(s, who.community, who.member, since)
        if len(used) >= limit:
            raise _refusal(limit, used[0])
        row = TryRow(
            community=who.community,
            member=who.member,
            policy_id=target.policy.id or 0,
            policy_version_id=target.version.id or 0,
            amendment_id=target.amendment_id,
            turns_json=turns_json(turns),
            outcome=PENDING,
            at=now,
        )
        s.add(row)
        await uow.commit()
    async with svc.uow() as uow:  # two tries at once: the later one (by id) over the limit gives way
        used = await _counted(uow.session, who.community, who.member, since, up_to=row.id)
        if len(used) > limit:
            await uow.session.exec(delete(TryRow).where(col(TryRow.id) == row.id))
            await uow.commit()
            raise _refusal(limit, used[0])
    prompt = candidate_prompt(target.policy.name, target.clauses, turns, svc.options.temperature)
    bound = svc.options.max_response_chars
    ctx = CallContext(who.community, None, "try", authors=(who.member,))  # erasure finds its answer by her
    try:
        answer = await ask(svc, prompt, lambda text: parse_single(text, bound), ctx)
    except (GeneratorUnavailable, GeneratorFailed) as e:
        await _finish(svc, row.id or 0, FAILED, "", e.model, "")
        said = "could not be reached" if isinstance(e, GeneratorUnavailable) else "failed"
        return Outcome(
            Reply(f"The model '{e.model}' {said} ({e.detail}). This try does not count against your {limit} a day.", ok=False)
        )
    await _finish(svc, row.id or 0, OK, answer.value, answer.model, answer.prompt_hash)
    left = limit - len(used)
    return Outcome(Reply(_answer_text(row.id or 0, target, answer, left, limit)))


async def _finish(svc: Services, try_id: int, outcome: str, answer: str, model: str, digest: str) -> None:
    async with svc.uow() as uow:
        await uow.session.exec(
            update(TryRow)
            .where(col(TryRow.id) == try_id)
            .values(outcome=outcome, answer=answer, model=model[:200], prompt_hash=digest)
        )
        await uow.commit()


def _cost(answer: Answer[str]) -> str:
    if answer.cached:
        return "from the answer cache: no new model call"
    cost = f"${answer.cost_usd:.4f}" if answer.cost_usd is not None else "cost unknown"
    return f"1 model call to {answer.model}: {answer.prompt_tokens:,} + {answer.completion_tokens:,} tokens, {cost}"


def _answer_text(try_id: int, target: Target, answer: Answer[str], left: int, limit: int) -> str:
    return (
        f"Try #{try_id}, under {target.what}:\n\n"
        f"{strip_time_tokens(answer.value)}\n\n"
        f"({_cost(answer)}. You have {left} of {limit} tries left in the next 24 hours.)\n"
        f"Add this prompt as a scenario: /try keep {try_id}"
    )


async def keep_try(cmd: KeepTry, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        row = await s.get(TryRow, cmd.try_id)
        if row is None or row.community != cmd.actor.community or row.member != cmd.actor.member:
            raise CommandError(f"You have no try #{cmd.try_id} in this community (a try can be kept only by who made it).")
        if row.scenario_id is not None:
            raise CommandError(f"Try #{row.id} is already scenario #{row.scenario_id}.")
        turns = turns_from_json(row.turns_json)
        scenario = ScenarioRow(
            community=row.community,
            title="",
            turns_json=turns_json(check_turns(turns)),
            created_by=cmd.actor.member,
            created_at=svc.now(),
        )
        s.add(scenario)
        await s.flush()
        done = await s.exec(
            update(TryRow).where(col(TryRow.id) == row.id, col(TryRow.scenario_id).is_(None)).values(scenario_id=scenario.id)
        )
        if done.rowcount != 1:
            raise CommandError(f"Try #{row.id} was kept meanwhile.")
        await uow.commit()
    return Outcome(Reply(f"Added scenario #{scenario.id} from try #{row.id}: {scenario_title(scenario)}"))


# ---------------------------------------------------------------- privacy
