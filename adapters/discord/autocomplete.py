"""Autocomplete for slash command options: read-only lookups of what exists in this guild
(policies, scenarios, rounds, clauses, amendments). Suggestions only: the core validates every
value again when the command arrives."""

from __future__ import annotations

from collections.abc import Callable

from discord import app_commands
from sqlmodel import col, select

from adapters.discord.render import cut
from bot.model import Phase
from bot.queries import clauses_of, scenario_title
from storage.tables import AmendmentRow, PolicyRow, PolicyVersionRow, RoundRow, ScenarioRow
from storage.uow import UnitOfWork

MAX_CHOICES = 25
CHOICE_NAME_LIMIT = 100
UowFactory = Callable[[], UnitOfWork]


def _name(text: str) -> str:
    return cut(" ".join(text.split()), CHOICE_NAME_LIMIT)


async def policies(uow: UowFactory, community: str, current: str) -> list[app_commands.Choice[str]]:
    async with uow() as u:
        q = select(PolicyRow.name).where(PolicyRow.community == community).order_by(col(PolicyRow.name))
        names = (await u.session.exec(q)).all()
    wanted = current.strip().lower()
    return [app_commands.Choice(name=n, value=n) for n in names if wanted in n.lower()][:MAX_CHOICES]


async def scenarios(uow: UowFactory, community: str, current: str) -> list[app_commands.Choice[int]]:
    async with uow() as u:
        q = (
            select(ScenarioRow)
            .where(ScenarioRow.community == community, col(ScenarioRow.removed).is_(False))
            .order_by(col(ScenarioRow.id).desc())
        )
        rows = (await u.session.exec(q.limit(200))).all()
    wanted = current.strip().lstrip("#").lower()
    out = [(r.id or 0, f"#{r.id} {scenario_title(r)}") for r in rows]
    return [app_commands.Choice(name=_name(label), value=i) for i, label in out if wanted in label.lower()][:MAX_CHOICES]


async def scenario_list(uow: UowFactory, community: str, current: str) -> list[app_commands.Choice[str]]:
    """For `scenarios: 1,2,3`: keep what is typed, and offer each scenario not yet listed after it."""
    head, _, tail = current.rpartition(",")
    listed = {p.strip() for p in head.split(",") if p.strip()}
    prefix = f"{head}," if head else ""
    found = await scenarios(uow, community, tail)
    choices = [
        app_commands.Choice(name=_name(f"{prefix}{c.value}  ({c.name})"), value=f"{prefix}{c.value}")
        for c in found
        if str(c.value) not in listed
    ]
    return choices[:MAX_CHOICES]


async def rounds(uow: UowFactory, community: str, current: str, *, open_only: bool = False) -> list[app_commands.Choice[int]]:
    async with uow() as u:
        q = (
            select(RoundRow.id, RoundRow.phase, PolicyRow.name, PolicyVersionRow.version)
            .where(
                RoundRow.community == community,
                RoundRow.policy_version_id == PolicyVersionRow.id,
                PolicyVersionRow.policy_id == PolicyRow.id,
            )
            .order_by(col(RoundRow.id).desc())
            .limit(100)
        )
        rows = (await u.session.exec(q)).all()
    wanted = current.strip().lstrip("#").lower()
    out: list[app_commands.Choice[int]] = []
    for rid, phase, name, version in rows:
        if open_only and not Phase(phase).is_open:
            continue
        label = f"#{rid} {name} v{version} · {phase.upper()}"
        if wanted in label.lower():
            out.append(app_commands.Choice(name=_name(label), value=rid or 0))
    return out[:MAX_CHOICES]


async def clauses(uow: UowFactory, community: str, round_id: int | None, current: str) -> list[app_commands.Choice[int]]:
    if round_id is None:
        return []
    async with uow() as u:
        r = (await u.session.exec(select(RoundRow).where(RoundRow.id == round_id, RoundRow.community == community))).first()
        if r is None:
            return []
        found = await clauses_of(u.session, r.policy_version_id)
    wanted = current.strip().lower()
    labels = [(c.number, f"{c.number}. {c.text}") for c in found]
    return [app_commands.Choice(name=_name(label), value=n) for n, label in labels if wanted in label.lower()][:MAX_CHOICES]


async def amendments(
    uow: UowFactory, community: str, current: str, *, proposed_only: bool = True
) -> list[app_commands.Choice[int]]:
    async with uow() as u:
        q = select(AmendmentRow).where(AmendmentRow.community == community)
        if proposed_only:
            q = q.where(AmendmentRow.status == "proposed")
        rows = (await u.session.exec(q.order_by(col(AmendmentRow.id).desc()).limit(100))).all()
    wanted = current.strip().lstrip("#").lower()
    out: list[app_commands.Choice[int]] = []
    for a in rows:
        label = f"#{a.id} (round {a.round_id}) {a.kind} {a.text or a.clause_key or ''}"
        if wanted in label.lower():
            out.append(app_commands.Choice(name=_name(label), value=a.id or 0))
    return out[:MAX_CHOICES]
