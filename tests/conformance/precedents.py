"""Precedents and /try, written once against the adapter boundary and run by the console, Discord and
Slack tests: a round with a verdict becomes a precedent, members list and show it, try their own
prompt and keep it as a scenario, the next round's amendment is checked against the precedent on
its ballot post, and a moderator retires it. The generator is a fake of our port whose judge finds
every answer consistent (tests/precedents check the judging itself against a local model server)."""

from __future__ import annotations

from sqlmodel import func, select

from bot.domain.model import Stance
from storage.tables import LLMCallRow, PrecedentRow, ScenarioRow, TryRow
from tests.conformance.scenario import POLICY_TEXT, ConformanceDriver


async def _count(d: ConformanceDriver, stmt: object) -> int:
    async with d.app.engine.services.uow() as uow:
        return int((await uow.session.exec(stmt)).one())  # type: ignore[call-overload]


async def run_precedent_conformance(d: ConformanceDriver) -> None:
    assert "Created policy" in await d.command("mod", "/policy create kind " + POLICY_TEXT, moderator=True)
    assert "Added scenario #1" in await d.command("mod", "/scenario add How do I treat a small burn?", moderator=True)
    empty = await d.command("alice", "/precedent list")
    assert "kind has no precedents yet" in empty, empty
    assert "Opening round #1" in await d.command("mod", "/round open kind scenarios=1 k=2", moderator=True)
    await d.settle()
    for member in ("alice", "bob", "carol"):  # the community endorses candidate #1 and objects to #2
        await d.react(member, 1, Stance.ENDORSE)
        await d.react(member, 2, Stance.OBJECT)
    assert "AMEND" in await d.command("mod", "/round advance 1", moderator=True)
    assert "closed" in await d.command("mod", "/round advance 1", moderator=True)
    await d.settle()

    listed = await d.command("alice", "/precedent list")
    assert "#1 · scenario #1" in listed and "1 like this, 1 not like this" in listed, listed
    shown = await d.command("alice", "/precedent show 1")
    assert "Precedent #1 of kind (active)" in shown and "Answers like this" in shown and "Not like this" in shown, shown
    assert "3 endorse, 0 object, 0 pass" in shown and "0 endorse, 3 object, 0 pass" in shown, shown
    assert "Precedents: 1 active" in await d.command("alice", "/policy show kind")
    missing = await d.command("alice", "/precedent show 99")
    assert "There is no precedent #99" in missing, missing

    tried = await d.command("alice", "/try How do I soothe a sunburn?")
    assert "Try #1, under kind v1 (the current version)" in tried and "19 of 20 tries left" in tried, tried
    assert "/try keep 1" in tried, tried
    assert "You have no try #1" in await d.command("bob", "/try keep 1")
    assert "Added scenario #2 from try #1" in await d.command("alice", "/try keep 1")
    assert await _count(d, select(func.count()).select_from(ScenarioRow)) == 2
    assert await _count(d, select(func.count()).select_from(TryRow)) == 1
    assert await _count(d, select(func.count()).select_from(LLMCallRow).where(LLMCallRow.purpose == "try")) == 1

    assert "Opening round #2" in await d.command("mod", "/round open kind scenarios=1 k=2", moderator=True)
    await d.settle()
    assert "AMEND" in await d.command("mod", "/round advance 2", moderator=True)
    assert "Proposed amendment #1" in await d.command("dave", "/amend replace 2 3 Suggest a doctor. -- too strict")
    assert "VOTE" in await d.command("mod", "/round advance 2", moderator=True)
    await d.settle()
    assert any("keeps 1 of 1 precedent" in t for t in d.posted_texts()), d.posted_texts()[-4:]
    checks = await d.command("erin", "/precedent checks 1")
    assert "Amendment #1" in checks and "keeps 1 of 1 precedent" in checks, checks

    refused = await d.command("alice", "/precedent retire 1")
    assert "Only moderators" in refused, refused
    retired = await d.command("mod", "/precedent retire 1 the community meant to change it", moderator=True)
    assert "Retired precedent #1" in retired, retired
    async with d.app.engine.services.uow() as uow:
        row = await uow.session.get(PrecedentRow, 1)
    assert row is not None and row.status == "retired" and row.retired_reason == "the community meant to change it"
