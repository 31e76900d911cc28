"""The app as bootstrap() builds it (the real litellm Router, on a worker thread) against the local
OpenAI-compatible server, which answers each scenario by the policy it is given and plays the
precedent judge deterministically (tests/support/openai_server.py play_judge)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, Stance, Turn
from bot.settings import Settings
from storage.tables import CandidateRow
from tests.conftest import actor
from tests.generation.conftest import llm_settings, make_app, system_of  # noqa: F401  (fixtures used here)
from tests.support.openai_server import FakeOpenAIServer

POLICY = "1. Be kind.\n2. Cite sources.\n3. Never give medical advice."
BURN = "How do I treat a small kitchen burn?"
COFFEE = "Is coffee healthy?"
REFUSAL = "I cannot give medical advice; please see a doctor or a pharmacist about it."
FIRST_AID = "Run the burn under cool water for twenty minutes and cover it loosely with cling film."
COFFEE_ANSWERS = ("Coffee in moderation is fine for most adults, studies suggest.", "It depends on you; ask your physician.")
_MANY = re.compile(r'exactly (\d+) items under "responses"')


def by_policy(body: dict[str, Any]) -> str:
    """Candidates (K at once) and single answers, each decided by the policy text of the request: under
    "Never give medical advice" the burn is answered with a refusal, under any other policy with first aid."""
    system = system_of(body)
    last = str(body["messages"][-1]["content"])
    many = _MANY.search(system)
    if many:
        k = int(many.group(1))
        texts = (
            [*COFFEE_ANSWERS, "Drink water.", "Tea is nicer."] if COFFEE in last else [REFUSAL, FIRST_AID, "Ask a friend.", "Hm."]
        )
        return json.dumps({"responses": [{"stance": f"s{i}", "text": t} for i, t in enumerate(texts[:k])]})
    if COFFEE in last:
        return COFFEE_ANSWERS[0]
    return REFUSAL if "Never give medical advice" in system else FIRST_AID


@pytest.fixture(autouse=True)
def answers_by_policy(openai_server: FakeOpenAIServer, llm_settings: Callable[..., Settings]) -> None:  # noqa: F811
    openai_server.behaviour.reply = by_policy  # after llm_settings, which sets its own


async def react(app: App, who: str, candidate: int, stance: Stance) -> None:
    reply = await app.engine.dispatch(c.RecordReaction(actor(who), stance, f"{who}-{candidate}-{stance}", candidate))
    assert reply.ok, reply.text


async def candidates_of(app: App, round_id: int) -> dict[str, int]:
    """The round's candidates (previews aside): text → id."""
    async with app.engine.services.uow() as uow:
        rows = (
            await uow.session.exec(
                select(CandidateRow).where(CandidateRow.round_id == round_id, col(CandidateRow.amendment_id).is_(None))
            )
        ).all()
    return {r.text: r.id or 0 for r in rows}


async def closed_round_with_a_verdict(app: App, mod: Actor) -> dict[str, int]:
    """Round #1 on kind v1 with the burn (#1) and coffee (#2) scenarios: three members endorse the refusal
    and object to first aid; on coffee they split. Closed without amendments. Its candidates: text → id."""
    e = app.engine
    assert (await e.dispatch(c.CreatePolicy(mod, "kind", POLICY))).ok
    for prompt in (BURN, COFFEE):
        assert (await e.dispatch(c.AddScenario(mod, (Turn("user", prompt),)))).ok
    assert (await e.dispatch(c.OpenRound(mod, "kind", "general", (1, 2), k=2))).ok
    await e.drain()
    ids = await candidates_of(app, 1)
    for who in ("alice", "bob", "carol"):
        await react(app, who, ids[REFUSAL], Stance.ENDORSE)
        await react(app, who, ids[FIRST_AID], Stance.OBJECT)
    first, second = (ids[t] for t in COFFEE_ANSWERS)
    for who, candidate, stance in (
        ("alice", first, Stance.ENDORSE),
        ("bob", first, Stance.OBJECT),
        ("carol", first, Stance.PASS),
    ):
        await react(app, who, candidate, stance)
    for who, candidate, stance in (
        ("alice", second, Stance.OBJECT),
        ("bob", second, Stance.ENDORSE),
        ("carol", second, Stance.ENDORSE),
    ):
        await react(app, who, candidate, stance)
    for _ in range(2):  # REVIEW → AMEND → CLOSED (nothing proposed)
        assert (await e.dispatch(c.AdvanceRound(mod, 1))).ok
    await e.drain()
    return ids


async def vote_on(app: App, mod: Actor, round_id: int, *amendments: tuple[AmendmentKind, int | None, str]) -> None:
    """Open round `round_id` on the burn scenario, propose the amendments, and open the vote."""
    e = app.engine
    assert (await e.dispatch(c.OpenRound(mod, "kind", "general", (1,), k=2))).ok
    await e.drain()
    assert (await e.dispatch(c.AdvanceRound(mod, round_id))).ok
    for i, (kind, clause, text) in enumerate(amendments):
        reply = await e.dispatch(c.ProposeAmendment(actor(f"member{i}"), round_id, kind, clause, text, "why not"))
        assert reply.ok, reply.text
    assert (await e.dispatch(c.AdvanceRound(mod, round_id))).ok
    await e.drain()
