"""A whole round through the engine, with the real litellm calling a local model server that echoes
what it is given, in which one member does everything a member can (reacts with reasons, takes a
reaction back, picks a best, writes a response, proposes a scenario and an amendment, accepts a
stress case, turns reminders off, gives attributes and consent, chooses to be named, votes) and then
erases. Afterwards no text column of any table (SQLite and PostgreSQL), no export of any format
(Parquet decoded) and no post holds her words, her platform id or her display name; only what the
README says stays (published totals, the policy the community adopted)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance, Turn
from bot.export import ExportRequest, Scope, export_bundle, verify_bundle
from storage.tables import (
    AmendmentRow,
    CandidateRow,
    ClauseRow,
    HandledRequestRow,
    LLMCacheRow,
    LLMCallRow,
    PolicyVersionRow,
    StressCaseRow,
    TallyRow,
)
from tests.conftest import actor
from tests.privacy.conftest import SECRET
from tests.privacy.support import POLICY, Her, post_texts, scan_database, scan_export, scan_texts
from tests.support.fakes import FakeChat

HER = Her(member="409591792120137351", name="Erin Quokka")
_keys = itertools.count(1)


def erin() -> Actor:
    return Actor("test", "guild-1", HER.member, HER.name)


async def ok(app: App, cmd: c.Command) -> str:
    reply = await app.engine.dispatch(cmd)
    assert reply.ok, reply.text
    return reply.text


def keyed(cmd_type: Any, *args: Any, **kw: Any) -> Any:
    """A command with a request key, as platforms send them (so answers are kept for replays)."""
    return cmd_type(*args, request_key=f"req-{next(_keys)}", **kw)


async def rows(app: App, table: Any) -> list[Any]:
    async with app.engine.services.uow() as uow:
        return list((await uow.session.exec(select(table).order_by(col(table.id)))).all())


async def play(app: App) -> dict[str, int]:
    """The round; returns the ids the checks need."""
    e, mod, me = app.engine, actor("mod", moderator=True), erin()
    others = {n: actor(n) for n in ("alice", "bob", "carol", "dave")}
    await ok(app, c.CreatePolicy(mod, "kind", POLICY))
    await ok(app, c.AddScenario(mod, (Turn("user", "How do I treat a burn?"),)))
    await ok(app, keyed(c.AddScenario, me, (Turn("user", HER.scenario),)))
    await ok(app, keyed(c.PrivacyName, me, named=True))
    await ok(app, keyed(c.PrivacyAttributes, me, (("country", "IS"), ("age", "35-44")), agree=True))
    await ok(app, keyed(c.PrivacyExportChoice, me, consent=True))
    await ok(app, keyed(c.SetReminderMessages, me, False))
    await ok(app, c.OpenRound(mod, "kind", "general", (1, 2), k=3))
    await e.drain()
    cands = await rows(app, CandidateRow)
    s1 = [x.id or 0 for x in cands if x.scenario_id == 1]
    s2 = [x.id or 0 for x in cands if x.scenario_id == 2]
    assert len(s1) == len(s2) == 3 and HER.scenario[:40] in next(x.text for x in cands if x.scenario_id == 2)
    await ok(app, keyed(c.ContributeResponse, me, 1, 1, HER.response))
    written = (await rows(app, CandidateRow))[-1].id or 0

    async def react(who: Actor, cand: int, stance: Stance, reason: str = "", removed: bool = False) -> None:
        key = f"{who.member}-{cand}-{stance}-{removed}"
        await ok(app, c.RecordReaction(who, stance, key, cand, removed=removed, reason=reason))

    await react(me, s1[0], Stance.ENDORSE, HER.reason_endorse)
    await react(me, s1[1], Stance.OBJECT, HER.reason_object)
    await react(me, s1[2], Stance.BEST, HER.reason_best)
    await react(me, s2[0], Stance.ENDORSE, HER.reason_taken_back)
    await react(me, s2[0], Stance.ENDORSE, removed=True)
    for name, (a, b) in {"alice": (0, 1), "bob": (0, 2), "carol": (2, 0), "dave": (1, 0)}.items():
        await react(others[name], s1[a], Stance.ENDORSE, f"{name} finds it clear")
        await react(others[name], s1[b], Stance.OBJECT)
        await react(others[name], s2[a], Stance.ENDORSE)
    await react(others["bob"], written, Stance.ENDORSE, "bob likes the written one")
    await ok(app, c.ProposeStressCases(mod, 1, kinds=("loophole",)))
    await e.drain()
    await ok(app, keyed(c.AcceptStressCase, me, 1))
    await e.drain()
    await ok(app, c.AdvanceRound(mod, 1))  # REVIEW → AMEND: the bot drafts from the reasons
    await e.drain()
    (draft,) = [a for a in await rows(app, AmendmentRow) if a.origin == "bot"]
    assert HER.reason_endorse in draft.rationale and HER.reason_endorse in draft.evidence_json
    await ok(app, keyed(c.ProposeAmendment, me, 1, AmendmentKind.REPLACE, 1, HER.amendment, HER.rationale))
    mine = (await rows(app, AmendmentRow))[-1].id or 0
    await ok(app, c.AdvanceRound(mod, 1))  # AMEND → VOTE: previews of both amendments
    await e.drain()
    for who, on_draft, on_mine in (
        (me, BallotChoice.YES, BallotChoice.YES),
        (others["alice"], BallotChoice.YES, BallotChoice.NO),
        (others["bob"], BallotChoice.YES, BallotChoice.NO),
        (others["carol"], BallotChoice.ABSTAIN, BallotChoice.NO),
    ):
        await ok(app, c.CastBallot(who, draft.id or 0, on_draft, event_key=f"b-{who.member}-d"))
        await ok(app, c.CastBallot(who, mine, on_mine, event_key=f"b-{who.member}-m"))
    assert "v2" in await ok(app, c.AdvanceRound(mod, 1))  # the draft is adopted, hers is not
    await e.drain()
    return {"written": written, "draft": draft.id or 0, "mine": mine, "s2_first": s2[0]}


async def everything_posted(chat: FakeChat) -> list[str]:
    found: list[str] = []
    for key, post in chat.posts.items():
        found += scan_texts(f"post {key} {post.title[:40]!r}", post_texts(post), HER)
    for who, reply in chat.private:
        if who.member != HER.member:  # what others were told privately
            found += scan_texts(f"reply to {who.member}", [reply.text, *(f.value for f in reply.fields)], HER)
    return found


async def export_all(app: App, out: Path) -> Path:
    svc = app.engine.services
    request = ExportRequest(Scope("guild-1"), parquet=True, system_prompt=True)
    result = await export_bundle(svc.uow, request, out, secret=SECRET, now=svc.now(), opinion_groups=svc.opinion_groups)
    assert verify_bundle(result.directory) == []
    return result.directory


async def test_erasure_leaves_nothing_of_her_anywhere(echo_app: App, chat: FakeChat, tmp_path: Path) -> None:
    app = echo_app
    ids = await play(app)
    database = app.database

    # before: she is everywhere (the scans below would find her)
    before = await scan_database(database, HER)
    tables = {h.split(":")[0] for h in before}
    for where in (
        "reaction_event.reason", "reaction_event.member", "scenario.turns_json", "scenario.created_by", "candidate.text",
        "candidate.author_member", "amendment.text", "amendment.rationale", "amendment.evidence_json", "amendment.proposed_by",
        "llm_cache.text", "llm_prompt_author.member", "policy_version.changelog", "stress_case.accepted_by",
        "reminder_opt_out.member", "member_privacy.member", "member_privacy.shown_name", "handled_request.member",
        "ballot_event.member",
    ):  # fmt: skip
        assert where in tables, (where, sorted(tables))
    assert await everything_posted(chat)
    assert scan_export(await export_all(app, tmp_path / "before"), HER)
    async with app.engine.services.uow() as uow:
        tallies = [(t.amendment_id, t.yes, t.no, t.abstain, t.adopted) for t in (await uow.session.exec(select(TallyRow))).all()]
    v2_clauses = [x.text for x in await rows(app, ClauseRow) if x.policy_version_id == 2]

    # /privacy show lists it all, her words inside derived records included
    shown = await app.engine.dispatch(c.PrivacyShow(erin()))
    assert shown.ok and shown.attachment is not None
    held = json.loads(shown.attachment.data)
    assert len(held["reactions"]) == 5 and len(held["ballots"]) == 2 and held["settings"]["shown_name"] == HER.name
    assert [x["text"] for x in held["responses_written"]] == [HER.response]
    assert held["scenarios_written"][0]["turns"] == [["user", HER.scenario]]
    assert held["scenarios_from_stress_cases_you_accepted"] and held["stress_cases_you_accepted"] == [1]
    assert held["settings"]["direct_message_reminders"] == "off" and held["settings"]["attributes"]["country"] == "IS"
    (quoting,) = held["bot_drafts_from_your_words"]
    assert quoting["amendment_id"] == ids["draft"] and HER.reason_endorse in quoting["your_reasons_in_its_evidence"]
    assert any("zebrawood" in x["text"] for x in held["model_answers_to_your_words"])
    assert any(x["amendment_id"] == ids["mine"] for x in held["model_answers_to_your_words"])  # previews of her amendment
    assert held["changelogs_quoting_you"] and held["model_requests_with_your_words"]["cached_answers"] > 0

    # erase
    preview = await ok(app, c.PrivacyErase(erin()))
    assert "confirm" in preview and "5 reaction events" in preview
    done = await ok(app, keyed(c.PrivacyErase, erin(), confirm=True))
    assert done.startswith("Erased:") and "post(s)" in done
    await app.engine.drain()

    # after: nowhere
    assert await scan_database(database, HER) == []
    assert await everything_posted(chat) == []
    root = await export_all(app, tmp_path / "after")
    assert scan_export(root, HER) == []

    # what stays, as the README says: published totals, the adopted policy, the stress case's words
    async with app.engine.services.uow() as uow:
        s = uow.session
        after = [(t.amendment_id, t.yes, t.no, t.abstain, t.adopted) for t in (await s.exec(select(TallyRow))).all()]
        assert after == tallies
        mine = await s.get(AmendmentRow, ids["mine"])
        assert mine is not None and (mine.text, mine.rationale, mine.proposed_by) == ("", "", "[erased]")
        draft = await s.get(AmendmentRow, ids["draft"])
        assert draft is not None and draft.rationale == "" and draft.text.startswith("Give general first-aid")
        case = await s.get(StressCaseRow, 1)
        assert case is not None and case.accepted_by == "[erased]" and "my friend burned a hand" in case.prompt
        changelog = (await s.get(PolicyVersionRow, 2)).changelog  # type: ignore[union-attr]
        assert "[erased]" in changelog and "Give general first-aid" in changelog
        assert (await s.exec(select(HandledRequestRow.member).where(HandledRequestRow.member != ""))).all() == []
        assert all(r.prompt_hash for r in (await s.exec(select(LLMCacheRow))).all())  # other answers stay cached
        assert any(r.prompt_hash == "" for r in (await s.exec(select(LLMCallRow))).all())  # hers lose their hash
    assert [x.text for x in await rows(app, ClauseRow) if x.policy_version_id == 2] == v2_clauses
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["exclusions"]["erased_members"] == 1 and manifest["exclusions"]["candidates"]["source_erased"] >= 3
    shown = await app.engine.dispatch(c.PrivacyShow(erin()))
    assert shown.attachment is not None
    held = json.loads(shown.attachment.data)
    assert held["reactions"] == [] and held["scenarios_written"] == [] and held["bot_drafts_from_your_words"] == []
