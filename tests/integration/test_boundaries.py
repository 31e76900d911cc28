"""Hostile input at the boundary, on SQLite and PostgreSQL: ids beyond a 32-bit integer, NUL and lone
surrogates in text, far dates and over-precise thresholds each get a clear ✗ naming the value and
change nothing; one reaction the database refuses never costs other members theirs."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import func, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.bounds import check_command, storable_text
from bot.domain.commands import Actor, RecordReaction
from bot.domain.model import Stance, Turn
from bot.domain.outputs import INTERNAL_ERROR
from bot.errors import CommandError
from bot.inbound.parser import parse
from storage.tables import PolicyRow, ReactionEventRow, RoundRow
from tests.conftest import actor
from tests.integration.test_round_lifecycle import setup_round
from tests.support.fakes import FakeChat

HOSTILE = [
    ("/round status 2147483648", "2147483648"),
    ("/vote 4294967296 yes", "4294967296"),
    ("/amend list 2147483648", "2147483648"),
    ("/round advance 999999999999", "999999999999"),
    ("/policy show x\x00", "NUL"),
    ("/policy create p\ud83d 1. Be kind.", "surrogate"),
    ("/scenario add Hello\x00there", "NUL"),
    ("/round open kind scenarios=1 threshold=>0.123456789", "0.123456789"),
    ("/round ends 1 9999-12-31T23:59-05:00", "9999-12-31T23:59-05:00"),
    ("/round ends 1 0001-01-01T00:00+05:00", "0001-01-01T00:00+05:00"),
    ("/round open kind scenarios=1 review-ends=9999-12-31T23:59-05:00", "9999-12-31"),
]


@pytest.mark.parametrize(("line", "named"), HOSTILE)
async def test_hostile_input_gets_a_clear_error_and_changes_nothing(app: App, mod: Actor, line: str, named: str) -> None:
    await setup_round(app, mod, k=2)
    async with app.engine.services.uow() as uow:
        before = (await uow.session.exec(select(func.count()).select_from(PolicyRow))).one()
    try:
        reply = await app.engine.dispatch(parse(line, mod, "general"))
        ok, text = reply.ok, reply.text
    except CommandError as e:
        ok, text = False, e.message
    assert not ok, text
    assert INTERNAL_ERROR not in text and named in text, text
    async with app.engine.services.uow() as uow:
        after = (await uow.session.exec(select(func.count()).select_from(PolicyRow))).one()
        r = await uow.session.get(RoundRow, 1)
    assert after == before and r is not None and r.phase == "review"


def test_check_command_walks_nested_values() -> None:
    with pytest.raises(CommandError, match="scenario ids 3000000000"):
        check_command(c.OpenRound(actor("m"), "p", "general", (1, 3_000_000_000)))
    with pytest.raises(CommandError, match="content contains a NUL"):
        check_command(c.AddScenario(actor("m"), (c_turn("a\x00b"),)))
    check_command(c.OpenRound(actor("m"), "p", "general", (1, 2**31 - 1)))  # the largest id is fine


def c_turn(text: str) -> Turn:
    return Turn("user", text)


def test_storable_text() -> None:
    assert storable_text("a\x00b\ud83dc") == "ab\ufffdc"
    assert storable_text("\ud83d\ude00") == "😀"  # a pair split in two is joined again
    assert storable_text("e\u0301") == "é"  # NFC
    assert storable_text("tab\tline\nok") == "tab\tline\nok"


async def test_one_bad_reaction_never_costs_the_others_theirs(app: App, mod: Actor, chat: FakeChat) -> None:
    """200 reactions in one burst, one with an id beyond 32 bits and one with a NUL in its reason
    (sent to the recorder directly, past the engine's check, as a new adapter bug might): on
    PostgreSQL that fails the whole batch; the batch is then written item by item."""
    await setup_round(app, mod, k=2)
    recorder = app.engine.services.recorder
    target = min(chat.keys_of("candidate"))
    good = [RecordReaction(actor(f"m{i}"), Stance.ENDORSE, f"evt-{i}", candidate_id=target) for i in range(200)]
    bad = [
        RecordReaction(actor("x"), Stance.ENDORSE, "evt-big", candidate_id=3_000_000_000),
        RecordReaction(actor("y"), Stance.OBJECT, "evt-nul", candidate_id=target, reason="bad\x00reason"),
    ]
    results = await asyncio.gather(*(recorder.submit(cmd) for cmd in [*good[:100], *bad, *good[100:]]), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(results) - len(failed) >= 200 and len(failed) <= 2
    async with app.engine.services.uow() as uow:
        n = (await uow.session.exec(select(func.count()).select_from(ReactionEventRow))).one()
    assert n >= 200
