"""Suggestions for what a member is typing (policies, scenarios, rounds, clauses, amendments of their
community): read-only lookups that adapters show as autocomplete. Suggestions only: every value is
validated again when the command arrives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlmodel import col, select

from bot.domain.model import Phase
from bot.rounds.queries import clauses_of, scenario_title
from storage.tables import AmendmentRow, PolicyRow, PolicyVersionRow, RoundRow, ScenarioRow
from storage.uow import UnitOfWork

MAX_SUGGESTIONS = 25
V = TypeVar("V", int, str)
UowFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class Suggestion(Generic[V]):
    value: V
    label: str


def _matching(items: list[Suggestion[V]], typed: str) -> list[Suggestion[V]]:
    wanted = typed.strip().lstrip("#").lower()
    return [s for s in items if wanted in s.label.lower()][:MAX_SUGGESTIONS]


async def policies(uow: UowFactory, community: str, typed: str) -> list[Suggestion[str]]:
    async with uow() as u:
        q = select(PolicyRow.name).where(PolicyRow.community == community).order_by(col(PolicyRow.name))
        names = (await u.session.exec(q)).all()
    return _matching([Suggestion(n, n) for n in names], typed)


async def scenarios(uow: UowFactory, community: str, typed: str) -> list[Suggestion[int]]:
    async with uow() as u:
        q = (
            select(ScenarioRow)
            .where(ScenarioRow.community == community, col(ScenarioRow.removed).is_(False))
            .order_by(col(ScenarioRow.id).desc())
        )
        rows = (await u.session.exec(q.limit(200))).all()
    return _matching([Suggestion(r.id or 0, f"#{r.id} {scenario_title(r)}") for r in rows], typed)


async def scenario_list(uow: UowFactory, community: str, typed: str) -> list[Suggestion[str]]:
    """For a list like `1,2,3`: keep what is typed, and offer each scenario not yet listed after it."""
    head, _, tail = typed.rpartition(",")
    listed = {p.strip() for p in head.split(",") if p.strip()}
    prefix = f"{head}," if head else ""
    found = await scenarios(uow, community, tail)
    return [Suggestion(f"{prefix}{s.value}", f"{prefix}{s.value}  ({s.label})") for s in found if str(s.value) not in listed]


async def rounds(uow: UowFactory, community: str, typed: str, *, open_only: bool = False) -> list[Suggestion[int]]:
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
    items = [
        Suggestion(rid or 0, f"#{rid} {name} v{version} · {phase.upper()}")
        for rid, phase, name, version in rows
        if not open_only or Phase(phase).is_open
    ]
    return _matching(items, typed)


async def clauses(uow: UowFactory, community: str, round_id: int | None, typed: str) -> list[Suggestion[int]]:
    if round_id is None:
        return []
    async with uow() as u:
        r = (await u.session.exec(select(RoundRow).where(RoundRow.id == round_id, RoundRow.community == community))).first()
        if r is None:
            return []
        found = await clauses_of(u.session, r.policy_version_id)
    return _matching([Suggestion(c.number, f"{c.number}. {c.text}") for c in found], typed)


async def amendments(uow: UowFactory, community: str, typed: str, *, proposed_only: bool = True) -> list[Suggestion[int]]:
    async with uow() as u:
        q = select(AmendmentRow).where(AmendmentRow.community == community)
        if proposed_only:
            q = q.where(AmendmentRow.status == "proposed")
        rows = (await u.session.exec(q.order_by(col(AmendmentRow.id).desc()).limit(100))).all()
    items = [Suggestion(a.id or 0, f"#{a.id} (round {a.round_id}) {a.kind} {a.text or a.clause_key or ''}") for a in rows]
    return _matching(items, typed)
