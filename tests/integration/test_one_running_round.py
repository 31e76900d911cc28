"""One running round per policy, held by the database (a partial unique index), not only by the
handler's check, which two /round open at the same moment can both pass."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

import bot.handlers.rounds
from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.handlers.rounds import ACTIVE
from storage.tables import RUNNING_PHASES, RoundRow
from tests.integration.test_commands import ready, refused

AT = datetime(2026, 11, 23, tzinfo=UTC)


def test_the_index_names_exactly_the_running_phases() -> None:
    assert "phase IN (" + ", ".join(f"'{p}'" for p in ACTIVE) + ")" == RUNNING_PHASES


async def test_an_open_that_slips_past_the_check_is_refused_by_the_database(
    app: App, mod: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(app, mod)
    assert (await app.engine.dispatch(c.OpenRound(mod, "kind", "general", (1,), k=2))).ok
    await app.engine.drain()
    # as if a second /round open had read "nothing running" just before the first committed
    monkeypatch.setattr(bot.handlers.rounds, "ACTIVE", ())
    await refused(app, c.OpenRound(mod, "kind", "general", (1,), k=2), "Another round on 'kind' is still running")
    monkeypatch.undo()
    await refused(app, c.OpenRound(mod, "kind", "general", (1,), k=2), "Round #1 on 'kind' is still running")
    assert (await app.engine.dispatch(c.CancelRound(mod, 1))).ok
    assert (await app.engine.dispatch(c.OpenRound(mod, "kind", "general", (1,), k=2))).ok  # free again
    await app.engine.drain()
    async with app.engine.services.uow() as uow:
        rounds = (await uow.session.exec(select(RoundRow).order_by(col(RoundRow.id)))).all()
    assert [(r.phase, r.policy_id) for r in rounds] == [("cancelled", 1), ("review", 1)]  # the refused ones left nothing


async def test_the_index_allows_finished_rounds_and_other_policies(app: App, mod: Actor) -> None:
    await ready(app, mod)
    assert (await app.engine.dispatch(c.CreatePolicy(mod, "other", "1. Be brief."))).ok

    def row(policy_id: int, phase: str) -> RoundRow:
        return RoundRow(
            community=mod.community,
            platform="test",
            channel="general",
            policy_version_id=policy_id,
            policy_id=policy_id,
            phase=phase,
            k=2,
            opened_by="mod",
            opened_at=AT,
            phase_changed_at=AT,
            review_seconds=60,
            amend_seconds=60,
            vote_seconds=60,
        )

    async with app.engine.services.uow() as uow:
        uow.session.add_all([row(1, "closed"), row(1, "cancelled"), row(1, "closed"), row(1, "vote"), row(2, "review")])
        await uow.commit()
    with pytest.raises(IntegrityError):
        async with app.engine.services.uow() as uow:
            uow.session.add(row(1, "opening"))
            await uow.commit()
