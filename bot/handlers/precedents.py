"""Precedents: list, show, retire (moderators), and how an amendment or a published version fares
against them, one check at a time; moderators can run a check again."""

from __future__ import annotations

import json

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.commands import ListPrecedents, PrecedentChecks, RecheckPrecedents, RetirePrecedent, ShowPrecedent
from bot.domain.model import aware, check_text
from bot.domain.outputs import Field, Outcome, Reply, cut
from bot.errors import CommandError
from bot.generation.precedent_checks import (
    check_amendments,
    check_fields,
    check_version,
    fares,
    stored_checks,
    version_round,
)
from bot.generation.precedents import ACTIVE, LIKE, RETIRED, answers_of, counts, ensure_recorded
from bot.rounds.posts import describe_amendment, label
from bot.rounds.queries import clauses_of, get_policy, get_version, policy_of_version, require_moderator, scenario_title
from bot.services import Services
from storage.tables import (
    AmendmentRow,
    PolicyRow,
    PolicyVersionRow,
    PrecedentAnswerRow,
    PrecedentCheckRow,
    PrecedentRow,
    RoundRow,
    ScenarioRow,
)

MAX_LISTED = 40
MAX_CHECKS_SHOWN = 5


async def _precedent(s: AsyncSession, community: str, precedent_id: int) -> PrecedentRow:
    row = await s.get(PrecedentRow, precedent_id)
    if row is None or row.community != community:
        raise CommandError(f"There is no precedent #{precedent_id} in this community (see /precedent list).")
    return row


async def policy_precedent_line(svc: Services, policy: PolicyRow) -> str:
    """For /policy show: how many precedents the policy has."""
    await ensure_recorded(svc, policy.id or 0)
    async with svc.uow() as uow:
        active, retired = await counts(uow.session, policy.id or 0)
    more = f" ({retired} retired)" if retired else ""
    return f"Precedents: {active} active{more}; /precedent list {policy.name}"


# ---------------------------------------------------------------- list


async def list_precedents(cmd: ListPrecedents, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        if cmd.policy is not None:
            policies = [await get_policy(s, cmd.actor.community, cmd.policy)]
        else:
            q = select(PolicyRow).where(PolicyRow.community == cmd.actor.community).order_by(col(PolicyRow.name))
            policies = list((await s.exec(q)).all())
    if not policies:
        raise CommandError("This community has no policy yet: a moderator creates one with /policy create.")
    for policy in policies:
        await ensure_recorded(svc, policy.id or 0)
    async with svc.uow() as uow:
        blocks = [await _policy_block(uow.session, p) for p in policies]
    return Outcome(Reply("\n\n".join(blocks)))


async def _policy_block(s: AsyncSession, policy: PolicyRow) -> str:
    rows = (
        await s.exec(
            select(PrecedentRow, ScenarioRow, PolicyVersionRow)
            .where(
                PrecedentRow.policy_id == policy.id,
                PrecedentRow.scenario_id == ScenarioRow.id,
                PrecedentRow.policy_version_id == PolicyVersionRow.id,
            )
            .order_by(col(PrecedentRow.status), col(PrecedentRow.support).desc(), col(PrecedentRow.id).desc())
        )
    ).all()
    if not rows:
        return (
            f"{policy.name} has no precedents yet: one is recorded when a round closes with a verdict on a scenario "
            "(candidates endorsed or objected to by consensus)."
        )
    answers = await answers_of(s, [p.id or 0 for p, _, _ in rows])
    active = sum(1 for p, _, _ in rows if p.status == ACTIVE)
    lines = [f"Precedents of {policy.name}: {active} active, {len(rows) - active} retired (most supported first)."]
    for p, sc, v in rows[:MAX_LISTED]:
        mine = answers.get(p.id or 0, [])
        like = sum(1 for a, _ in mine if a.verdict == LIKE)
        retired = " · retired" if p.status == RETIRED else ""
        lines.append(
            f"#{p.id} · scenario #{sc.id} “{scenario_title(sc, 60)}” · round #{p.round_id} on v{v.version} · "
            f"{like} like this, {len(mine) - like} not like this · support {p.support}{retired}"
        )
    if len(rows) > MAX_LISTED:
        lines.append(f"… and {len(rows) - MAX_LISTED} more.")
    lines.append("Details: /precedent show <id>")
    return "\n".join(lines)


# ---------------------------------------------------------------- show


def _counts_text(a: PrecedentAnswerRow) -> str:
    text = f"{a.endorsements} endorse, {a.objections} object, {a.passes} pass"
    groups = json.loads(a.groups_json or "{}")
    if groups:
        text += "; by opinion group " + ", ".join(
            f"{g}: {c['endorse']}/{c['object']}/{c['pass']}" for g, c in sorted(groups.items(), key=lambda kv: int(kv[0]))
        )
    return text


def _evidence_text(p: PrecedentRow) -> str:
    evidence = json.loads(p.evidence_json or "{}")
    groups = evidence.get("opinion_groups") or {}
    if groups.get("found"):
        sizes = ", ".join(str(n) for _, n in sorted((groups.get("sizes") or {}).items(), key=lambda kv: int(kv[0])))
        seen = f"{len(groups.get('sizes') or {})} opinion groups of {sizes} members"
    else:
        seen = f"no opinion groups ({groups.get('reason') or 'too few members'})"
    return f"{p.members} members reacted in the round, {evidence.get('reactions', 0)} reactions; {seen}; rule {p.rule}"


def _status(p: PrecedentRow) -> str:
    if p.status == ACTIVE:
        return "active"
    when = aware(p.retired_at)
    text = f"retired by {p.retired_by}" + (f" on {when:%Y-%m-%d}" if when else "")
    return text + (f": {p.retired_reason}" if p.retired_reason else "")


async def show_precedent(cmd: ShowPrecedent, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        p = await _precedent(s, cmd.actor.community, cmd.precedent_id)
        policy, version = await policy_of_version(s, p.policy_version_id)
        scenario = await s.get(ScenarioRow, p.scenario_id)
        assert scenario is not None
        answers = (await answers_of(s, [p.id or 0])).get(p.id or 0, [])
        checks = (
            await s.exec(
                select(PrecedentCheckRow)
                .where(PrecedentCheckRow.precedent_id == p.id)
                .order_by(col(PrecedentCheckRow.checked_at).desc(), col(PrecedentCheckRow.id).desc())
                .limit(MAX_CHECKS_SHOWN)
            )
        ).all()
    status = _status(p)
    conversation = "\n".join(f"{t['role']}: {t['content']}" for t in json.loads(scenario.turns_json))
    text = (
        f"Precedent #{p.id} of {policy.name} ({status}): scenario #{scenario.id}, from round #{p.round_id} "
        f"under {policy.name} v{version.version}; support {p.support}.\n{conversation}\n"
        f"Evidence: {_evidence_text(p)}."
    )
    fields: list[Field] = []
    for a, c in answers:
        title = "Answers like this" if a.verdict == LIKE else "Not like this"
        basis = (
            "bridging pick" if a.basis == "bridging" else ("endorsed" if a.verdict == LIKE else "objected to") + " by consensus"
        )
        body = c.text.strip() or "(erased by its author)"
        fields.append(
            Field(f"{title}: candidate {label(c.position)} (#{c.id}), {basis}", cut(f"{_counts_text(a)}\n{body}", 1000))
        )
    for row in checks:
        fields.append(
            Field(f"Checked against {row.subject.replace(':', ' #')}", cut(f"{row.verdict}: {row.reason or row.detail}", 1000))
        )
    return Outcome(Reply(text, fields=tuple(fields[:24])))


# ---------------------------------------------------------------- retire


async def retire_precedent(cmd: RetirePrecedent, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "retire precedents")
    reason = check_text(cmd.reason, "reason", limit=1000) if cmd.reason.strip() else ""
    async with svc.uow() as uow:
        s = uow.session
        p = await _precedent(s, cmd.actor.community, cmd.precedent_id)
        done = await s.exec(
            update(PrecedentRow)
            .where(col(PrecedentRow.id) == p.id, col(PrecedentRow.status) == ACTIVE)
            .values(status=RETIRED, retired_by=cmd.actor.member, retired_at=svc.now(), retired_reason=reason)
        )
        if done.rowcount != 1:
            raise CommandError(f"Precedent #{p.id} is already retired.")
        await uow.commit()
    why = f" Reason: {reason}" if reason else ""
    return Outcome(Reply(f"Retired precedent #{p.id}: later amendments and versions are no longer checked against it.{why}"))


# ---------------------------------------------------------------- checks


async def _subject(s: AsyncSession, cmd: PrecedentChecks | RecheckPrecedents) -> tuple[str, str, RoundRow]:
    """(subject key, what it is in words, its round) of an amendment or a published version."""
    if cmd.amendment_id is not None:
        a = await s.get(AmendmentRow, cmd.amendment_id)
        if a is None or a.community != cmd.actor.community:
            raise CommandError(f"There is no amendment #{cmd.amendment_id} in this community.")
        r = await s.get(RoundRow, a.round_id)
        assert r is not None
        numbers = {c.key: c.number for c in await clauses_of(s, r.policy_version_id)}
        return f"amendment:{a.id}", f"Amendment #{a.id} ({describe_amendment(a, numbers)})", r
    if cmd.policy is None or cmd.version is None:
        raise CommandError(
            "Name an amendment, or a policy and one of its versions: /precedent checks <amendment> | <policy> <version>."
        )
    policy = await get_policy(s, cmd.actor.community, cmd.policy)
    version = await get_version(s, policy, cmd.version)
    r = await version_round(s, version)
    if r is None:
        raise CommandError(f"{policy.name} v{version.version} was not published by a round, so it has no precedent checks.")
    return f"version:{version.id}", f"{policy.name} v{version.version}", r


async def precedent_checks(cmd: PrecedentChecks, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        key, what, _ = await _subject(s, cmd)
        results = await stored_checks(s, key)
        rows = (await s.exec(select(PrecedentCheckRow).where(PrecedentCheckRow.subject == key))).all()
    if not rows:
        return Outcome(
            Reply(
                f"{what} has not been checked against the precedents: the checks run when the vote opens (and when a "
                "version is published), and only where the policy has precedents. Moderators: /precedent recheck."
            )
        )
    when = max(aware(check.checked_at) or check.checked_at for check in rows)
    prompts = ", ".join(sorted({check.judge_prompt_version for check in rows} - {""})) or "none: not checked"
    text = f"{what} against the precedents: {fares(results)}. Checked {when:%Y-%m-%d %H:%M} UTC (judge prompt {prompts})."
    return Outcome(Reply(text, fields=check_fields(results, with_answers=True)))


async def recheck_precedents(cmd: RecheckPrecedents, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "check against the precedents again")
    if svc.options.precedent_checks <= 0:
        raise CommandError("Precedent checks are turned off on this bot (POLICYBOT_PRECEDENT_CHECKS is 0).")
    async with svc.uow() as uow:
        key, what, r = await _subject(uow.session, cmd)
    assert r.id is not None
    if cmd.amendment_id is not None:
        svc.spawn(check_amendments(svc, r.id, [cmd.amendment_id], tell=cmd.actor), name=f"precedent-recheck-{key}")
        where = "the ballot post is updated and you are told"
    else:
        svc.spawn(check_version(svc, r.id, again=True, tell=cmd.actor), name=f"precedent-recheck-{key}")
        where = "the outcome is posted and you are told"
    return Outcome(
        Reply(f"Checking {what} against up to {svc.options.precedent_checks} precedent(s) again; {where} when it is done.")
    )
