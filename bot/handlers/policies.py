"""Policies: create, show, history, diff, list."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.domain.commands import CreatePolicy, DiffPolicy, ListPolicies, PolicyHistory, ShowPolicy
from bot.domain.model import check_name, diff_clauses, parse_clauses, render_policy
from bot.domain.outputs import Outcome, Reply
from bot.errors import CommandError
from bot.handlers.precedents import policy_precedent_line
from bot.rounds.queries import clauses_of, get_policy, get_version, require_moderator
from bot.services import Services
from storage.tables import ClauseRow, PolicyRow, PolicyVersionRow


async def create_policy(cmd: CreatePolicy, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "create a policy")
    name = check_name(cmd.name)
    clauses = parse_clauses(cmd.text)
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        exists = (
            await s.exec(select(PolicyRow.id).where(PolicyRow.community == cmd.actor.community, PolicyRow.name == name))
        ).first()
        if exists is not None:
            raise CommandError(f"A policy named '{name}' already exists; change it through a round's amendments.")
        policy = PolicyRow(
            community=cmd.actor.community,
            name=name,
            created_by=cmd.actor.member,
            created_at=now,
            next_clause_number=len(clauses) + 1,
        )
        s.add(policy)
        await s.flush()
        assert policy.id is not None
        version = PolicyVersionRow(
            policy_id=policy.id, version=1, created_by=cmd.actor.member, created_at=now, changelog="Created."
        )
        s.add(version)
        await s.flush()
        assert version.id is not None
        for i, text in enumerate(clauses, 1):
            s.add(ClauseRow(policy_version_id=version.id, position=i, clause_key=f"c{i}", text=text))
        try:
            await uow.commit()
        except IntegrityError:  # a concurrent create of the same name
            raise CommandError(f"A policy named '{name}' already exists.") from None
    return Outcome(Reply(f"Created policy '{name}' v1 with {len(clauses)} clause(s). Show it with /policy show {name}."))


async def show_policy(cmd: ShowPolicy, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        policy = await get_policy(uow.session, cmd.actor.community, cmd.name)
        version = await get_version(uow.session, policy, cmd.version)
        assert version.id is not None
        clauses = await clauses_of(uow.session, version.id)
    text = render_policy(policy.name, version.version, clauses)
    keys = " ".join(f"{c.number}={c.key}" for c in clauses)
    precedents = await policy_precedent_line(svc, policy)
    return Outcome(Reply(f"{text}\n\n(clause ids: {keys})\n{precedents}"))


async def policy_history(cmd: PolicyHistory, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        policy = await get_policy(uow.session, cmd.actor.community, cmd.name)
        versions = (
            await uow.session.exec(
                select(PolicyVersionRow).where(PolicyVersionRow.policy_id == policy.id).order_by(col(PolicyVersionRow.version))
            )
        ).all()
    lines = [f"History of '{policy.name}':"]
    for v in versions:
        source = f" (round #{v.source_round_id})" if v.source_round_id else ""
        lines.append(f"v{v.version} · {v.created_at:%Y-%m-%d %H:%M} · by {v.created_by}{source}\n  {v.changelog}")
    return Outcome(Reply("\n".join(lines)))


async def diff_policy(cmd: DiffPolicy, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        policy = await get_policy(uow.session, cmd.actor.community, cmd.name)
        a = await get_version(uow.session, policy, cmd.from_version)
        b = await get_version(uow.session, policy, cmd.to_version)
        assert a.id is not None and b.id is not None
        old, new = await clauses_of(uow.session, a.id), await clauses_of(uow.session, b.id)
    changes = diff_clauses(old, new)
    head = f"'{policy.name}' v{a.version} → v{b.version}:"
    return Outcome(Reply(head + ("\n" + "\n".join(changes) if changes else " no change.")))


async def list_policies(cmd: ListPolicies, svc: Services) -> Outcome:
    async with svc.uow() as uow:
        s = uow.session
        rows = (
            await s.exec(
                select(PolicyRow.name, PolicyVersionRow.version)
                .where(PolicyRow.community == cmd.actor.community, PolicyVersionRow.policy_id == PolicyRow.id)
                .order_by(col(PolicyRow.name), col(PolicyVersionRow.version))
            )
        ).all()
    latest: dict[str, int] = {}
    for name, version in rows:
        latest[name] = version
    if not latest:
        return Outcome(Reply("No policy yet: a moderator creates one with /policy create <name> <clauses>."))
    return Outcome(Reply("Policies: " + ", ".join(f"{n} (v{v})" for n, v in latest.items())))
