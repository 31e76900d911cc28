"""A hostile model server, through real litellm over HTTP, on SQLite and PostgreSQL: answers with NUL,
lone surrogates and 200 kB of text open the round cleanly (made storable, bounded, cut with a note
after asking again); a failure after generation cancels the opening and tells the opener; JSON
answers are requested with their schema where the model supports it, and checked against it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import func, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import Turn
from storage.tables import CandidateRow, LLMCacheRow, LLMCallRow, RoundRow
from tests.generation.conftest import POLICY, MakeApp, open_round, responses_json, system_of, user_of, well_formed
from tests.support.fakes import FakeChat
from tests.support.openai_server import FakeOpenAIServer


async def rows(app: App, table: Any) -> list[Any]:
    async with app.engine.services.uow() as uow:
        return list((await uow.session.exec(select(table))).all())


def hostile(text: str, tag: str) -> str:
    return json.dumps({"responses": [{"stance": f"s{i}\x00", "text": f"{text} {tag}{i}"} for i in range(4)]})


async def test_nul_and_lone_surrogates_are_made_storable(make_app: MakeApp, mod: Actor, openai_server: FakeOpenAIServer) -> None:
    def reply(body: dict[str, Any]) -> str:
        if "coffee" in user_of(body):  # escaped inside the JSON, and raw in the answer's text around it
            return "\x00" + hostile("Caf\u00e9 e\u0301 \ud83d \x00 half an emoji", "c")
        return well_formed(body)

    openai_server.behaviour.reply = reply
    app = await make_app()
    await open_round(app, mod)
    (r,) = await rows(app, RoundRow)
    assert r.phase == "review"
    texts = [x.text for x in await rows(app, CandidateRow)]
    assert len(texts) == 8
    assert all("\x00" not in t and "\ud83d" not in t for t in texts)
    assert any("Café é \ufffd  half an emoji" in t for t in texts)  # NFC, U+FFFD for the lone half


async def test_an_over_long_answer_is_asked_again_then_cut_with_a_note(
    make_app: MakeApp, mod: Actor, openai_server: FakeOpenAIServer, chat: FakeChat
) -> None:
    long = " ".join(f"Sentence {i} of an answer that goes on and on." for i in range(5000))  # ~230 kB

    def reply(body: dict[str, Any]) -> str:
        return hostile(long, "x") if "coffee" in user_of(body) else well_formed(body)

    openai_server.behaviour.reply = reply
    app = await make_app(max_response_chars=3000)
    await open_round(app, mod)
    asked = [b for b in openai_server.requests if "coffee" in user_of(b)]
    assert len(asked) == 3  # asked again twice, then taken cut
    cands = [x for x in await rows(app, CandidateRow) if x.scenario_id == 2]
    assert len(cands) == 4
    for x in cands:
        assert len(x.text) <= 3000 and "Cut by policybot" in x.text and x.text.split("\n\n[Cut")[0].endswith(".")
    calls = await rows(app, LLMCallRow)
    assert sum(1 for x in calls if x.outcome == "malformed" and "characters long" in x.detail) == 2
    cache = await rows(app, LLMCacheRow)
    assert all(len(x.text) < 3000 * 12 for x in cache)  # 230 kB is used (cut) but never cached
    posted = [p for p in chat.posts.values() if p.subject and p.subject.kind == "candidate"]
    assert len(posted) == 8 and max(len(p.text) for p in posted) <= 3000


async def test_a_bad_answer_already_in_the_cache_comes_back_clean(
    make_app: MakeApp, mod: Actor, openai_server: FakeOpenAIServer, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL cannot even hold the bad cache entry this test plants")
    app = await make_app()
    from bot.domain.model import ClauseText, parse_clauses
    from bot.generation.sampling import cache_keys

    clauses_ = [ClauseText(i, f"c{i}", t) for i, t in enumerate(parse_clauses(POLICY), 1)]
    ((digest, sample),) = cache_keys(
        "negatively-correlated", "kind", clauses_, (Turn("user", "Is coffee healthy?"),), 4, 0.9, "openai/test-model"
    )
    async with app.engine.services.uow() as uow:
        uow.session.add(
            LLMCacheRow(
                prompt_hash=digest,
                sample=sample,
                model="m\x00",
                text=hostile("bad\x00 \ud83d", "b"),
                created_at=datetime.now(UTC),
            )
        )
        await uow.commit()
    await open_round(app, mod)
    texts = [x.text for x in await rows(app, CandidateRow) if x.scenario_id == 2]
    assert len(texts) == 4 and all("\x00" not in t and "\ud83d" not in t and t.startswith("bad") for t in texts)


async def test_a_failure_after_generation_cancels_the_opening_and_says_so(
    make_app: MakeApp, mod: Actor, chat: FakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.generation.candidates as candidates

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the posts could not be written")

    monkeypatch.setattr(candidates, "enqueue_scenarios", broken)
    app = await make_app()
    await open_round(app, mod)
    (r,) = await rows(app, RoundRow)
    assert r.phase == "cancelled" and "could not be opened" in r.note.lower()
    assert await rows(app, CandidateRow) == [] and await rows(app, LLMCacheRow) == []  # nothing half-stored, nothing cached
    told = chat.private[-1][1]
    assert not told.ok and "was not opened and was cancelled" in told.text and "RuntimeError" in told.text
    monkeypatch.undo()
    again = await app.engine.dispatch(c.OpenRound(mod, "kind", "general", (1, 2), k=4))  # the policy is free again
    assert again.ok, again.text


async def test_json_answers_are_requested_with_their_schema_and_checked(
    make_app: MakeApp, mod: Actor, openai_server: FakeOpenAIServer
) -> None:
    openai_server.behaviour.reply = None  # the server follows response_format when it is sent
    app = await make_app(model="openai/gpt-4o-mini")  # litellm knows it supports response schemas
    await open_round(app, mod)
    assert len(await rows(app, CandidateRow)) == 8
    formats = [b.get("response_format") or {} for b in openai_server.requests]
    assert formats and all(f.get("type") == "json_schema" for f in formats)
    schema = formats[0]["json_schema"]["schema"]
    assert schema["properties"]["responses"]["minItems"] == 4
    assert 'exactly 4 items under "responses"' in system_of(openai_server.requests[0])  # the format line stays


async def test_without_schema_support_the_format_line_asks_and_the_schema_still_checks(
    make_app: MakeApp, mod: Actor, openai_server: FakeOpenAIServer
) -> None:
    wrong = iter([json.dumps({"responses": [1, 2, 3, 4]})])

    def reply(body: dict[str, Any]) -> str:
        if "coffee" in user_of(body):
            return next(wrong, responses_json(4, "ok"))
        return well_formed(body)

    openai_server.behaviour.reply = reply
    app = await make_app()  # openai/test-model: litellm does not know it, so no response_format
    await open_round(app, mod)
    assert all("response_format" not in b for b in openai_server.requests)
    calls = await rows(app, LLMCallRow)
    assert any(x.outcome == "malformed" and "schema" in x.detail for x in calls)
    async with app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(func.count()).select_from(CandidateRow))).one() == 8
