"""Members' data commands and the moderator export command, through the engine: opt-out, consent,
attributes, erasure honoured in every format; the zip in the chat; moderators stay in their community."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlmodel import func, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.model import AmendmentOrigin, Stance
from bot.errors import CommandError
from bot.export import Scope, verify_bundle
from bot.export.attributes import SUPPRESSED, aggregate_counts, k_anonymous
from bot.inbound.parser import parse
from storage.tables import AmendmentRow, BallotEventRow, CandidateRow, ReactionEventRow, TallyRow
from tests.conftest import actor
from tests.export.seed import Seeded, seed_round
from tests.export.test_bundle import aid, export, jsonl
from tests.support.fakes import FakeChat

FILES_WITH_MEMBERS = (
    "trl_preference.jsonl",
    "trl_unpaired.jsonl",
    "openai_preference.provenance.jsonl",
    "community_alignment.jsonl",
    "events.jsonl",
    "polis/participant-annotators.csv",
)


def everything(root: Path) -> str:
    """Every byte of the bundle that is text (Parquet is checked through its rows)."""
    return "".join(p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".parquet")


def attributes_of(row: dict[str, Any]) -> dict[str, Any]:
    """A Community Alignment row's self-described attributes, under this bot's attribute names."""
    return {a: row[f"annotator_{a}"] for a in ("country", "age", "gender", "language")}


def parquet_text(root: Path) -> str:
    return "".join(json.dumps(pq.read_table(p).to_pylist(), default=str) for p in sorted(root.glob("parquet/*.parquet")))


async def ok(app: App, cmd: c.Command) -> str:
    reply = await app.engine.dispatch(cmd)
    assert reply.ok, reply.text
    return reply.text


async def test_opt_out_is_honoured_in_every_format(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp)
    bob = s.members["bob"]
    assert "opted out" in await ok(xapp, c.PrivacyExportChoice(bob, opt_out=True))
    result = await export(xapp, tmp_path, c_scope(s), parquet=True)
    root = result.directory
    bob_id = aid(s.community, "bob")
    for text in (everything(root), parquet_text(root)):
        assert bob_id not in text and "bob-secret-reason" not in text
        assert aid(s.community, "alice") in text
    for f in FILES_WITH_MEMBERS:
        assert (root / f).stat().st_size > 0
    assert result.manifest["counts"]["comparisons"] == 6  # bob's 3 comparisons are gone
    assert result.manifest["exclusions"]["members"]["opted_out"] == 1
    assert result.manifest["exclusions"]["reaction_events"]["opted_out"] == 3
    card = (root / "README.md").read_text(encoding="utf-8")
    assert "Members opted out of exports: 1\n" in card and "- − of members who opted out of exports: 3\n" in card
    assert "opted back in" in await ok(xapp, c.PrivacyExportChoice(bob, opt_out=False))
    again = await export(xapp, tmp_path, c_scope(s), "again")
    assert bob_id in everything(again.directory)


async def test_a_reaction_still_being_written_is_erased_too(xapp: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The member reacts and at once erases: the reaction's batch is still being written (slowed
    here) when the erase arrives. The erase waits for it, so nothing of the member survives."""
    s = await seed_round(xapp, close=False)  # still in a phase that records reactions
    carol = s.members["carol"]
    recorder = xapp.engine.services.recorder
    real_write = recorder.write
    writing = asyncio.Event()

    async def slow_write(batch: Any) -> Any:
        writing.set()
        await asyncio.sleep(0.3)
        return await real_write(batch)

    monkeypatch.setattr(recorder, "write", slow_write)
    candidate = next(iter(s.candidates.values()))[0]
    late = asyncio.create_task(
        xapp.engine.dispatch(c.RecordReaction(carol, Stance.PASS, "k-late", candidate_id=candidate, reason="late-secret"))
    )
    await writing.wait()
    reply = await xapp.engine.dispatch(c.PrivacyErase(carol, confirm=True))
    assert reply.ok and "Erased" in reply.text
    assert (await late).ok  # it was confirmed, before the erasure was
    async with xapp.engine.services.uow() as uow:
        assert (await uow.session.exec(select(func.count()).where(ReactionEventRow.member == "carol"))).one() == 0


def c_scope(s: Seeded) -> Scope:
    return Scope(s.community, s.round_id)


async def test_erasure_removes_events_free_text_and_written_responses(xapp: App, chat: FakeChat, tmp_path: Path) -> None:
    s = await seed_round(xapp)
    carol = s.members["carol"]
    async with xapp.engine.services.uow() as uow:
        tallies_before = [(t.yes, t.no, t.abstain) for t in (await uow.session.exec(select(TallyRow))).all()]
    preview = await ok(xapp, c.PrivacyErase(carol))
    assert "3 reaction events" in preview and "1 ballot events" in preview and "confirm" in preview
    async with xapp.engine.services.uow() as uow:  # nothing erased without confirm
        assert (await uow.session.exec(select(func.count()).where(ReactionEventRow.member == "carol"))).one() == 3
    reply = await xapp.engine.dispatch(c.PrivacyErase(carol, confirm=True))
    assert reply.ok and "Erased" in reply.text
    async with xapp.engine.services.uow() as uow:
        q = uow.session
        assert (await q.exec(select(func.count()).where(ReactionEventRow.member == "carol"))).one() == 0
        assert (await q.exec(select(func.count()).where(BallotEventRow.member == "carol"))).one() == 0
        human = await q.get(CandidateRow, s.human)
        assert human is not None and human.text == "" and human.author_member is None
        assert [(t.yes, t.no, t.abstain) for t in (await q.exec(select(TallyRow))).all()] == tallies_before == [(2, 1, 0)]
    assert any("erased" in p.title for _, p in chat.edits)  # the posted response is blanked too
    result = await export(xapp, tmp_path, c_scope(s), parquet=True)
    root = result.directory
    for text in (everything(root), parquet_text(root)):
        assert aid(s.community, "carol") not in text
        assert "carol-private-reason" not in text and "— carol" not in text
    assert result.manifest["exclusions"]["erased_members"] == 1
    assert result.manifest["exclusions"]["candidates"]["erased"] == 1
    assert result.manifest["counts"]["comparisons"] == 6  # alice loses (H, C) and (A over H); carol's (H, A) is gone
    shown = await xapp.engine.dispatch(c.PrivacyShow(carol))
    assert shown.attachment is not None
    held = json.loads(shown.attachment.data)
    assert held["reactions"] == [] and held["ballots"] == []


async def test_consent_required_before_export(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp)
    refused = await xapp.engine.dispatch(c.ExportSettings(s.members["alice"], consent_required=True))
    assert not refused.ok and "moderators" in refused.text.lower()
    assert "must consent" in await ok(xapp, c.ExportSettings(s.mod, licence="CC0-1.0", consent_required=True))
    await ok(xapp, c.PrivacyExportChoice(s.members["alice"], consent=True))
    await ok(xapp, c.PrivacyExportChoice(s.members["dave"], consent=True))
    await ok(xapp, c.PrivacyExportChoice(s.members["dave"], consent=False))
    result = await export(xapp, tmp_path, c_scope(s))
    text = everything(result.directory)
    assert aid(s.community, "alice") in text
    for m in ("bob", "carol", "dave"):
        assert aid(s.community, m) not in text
    assert result.manifest["exclusions"]["members"]["no_consent"] == 3
    assert result.manifest["exclusions"]["candidates"]["no_consent"] == 1  # carol's response
    assert result.manifest["licence"] == "CC0-1.0"
    assert "license: cc0-1.0" in (result.directory / "README.md").read_text(encoding="utf-8")


async def test_attributes_only_with_consent_and_k_anonymous(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp)
    refused = await xapp.engine.dispatch(c.PrivacyAttributes(s.members["alice"], (("country", "FR"),)))
    assert not refused.ok and "consent" in refused.text
    bad = await xapp.engine.dispatch(c.PrivacyAttributes(s.members["alice"], (("age", "31"),), agree=True))
    assert not bad.ok and "band" in bad.text
    for name, country in (("alice", "FR"), ("bob", "FR"), ("carol", "BR")):
        await ok(xapp, c.PrivacyAttributes(s.members[name], (("country", country), ("age", "25-34")), agree=True))
    result = await export(xapp, tmp_path, c_scope(s), formats=("community-alignment",), k_anonymity=2)
    rows = jsonl(result.directory / "community_alignment.jsonl")
    by = {r["annotator_id"]: attributes_of(r) for r in rows}
    assert by[aid(s.community, "alice")] == {"country": "FR", "age": "25-34", "gender": None, "language": None}
    assert by[aid(s.community, "carol")]["country"] == SUPPRESSED  # the only BR
    assert by[aid(s.community, "dave")] == {"country": None, "age": None, "gender": None, "language": None}
    assert {r["annotator_education_level"] for r in rows} == {None}  # not collected
    card = (result.directory / "README.md").read_text(encoding="utf-8")
    assert "- country: FR: 2, suppressed: 1" in card and "BR" not in card
    assert "removed" in await ok(xapp, c.PrivacyAttributes(s.members["alice"], clear=True))
    again = await export(xapp, tmp_path, c_scope(s), "again", formats=("community-alignment",), k_anonymity=2)
    after = {r["annotator_id"]: attributes_of(r) for r in jsonl(again.directory / "community_alignment.jsonl")}
    assert after[aid(s.community, "alice")]["country"] is None


def test_k_anonymity_suppresses_rare_values_and_rare_combinations() -> None:
    attrs = {f"m{i}": {"country": "FR", "age": "25-34"} for i in range(3)}
    attrs |= {f"n{i}": {"country": "FR", "age": "35-44"} for i in range(3)}
    attrs["odd"] = {"country": "FR", "age": "65+"}
    attrs["mix"] = {"country": "DE", "age": "25-34"}
    out = k_anonymous(attrs, 3)
    assert out["m0"]["country"] == "FR" and out["m0"]["age"] == "25-34"
    assert out["odd"]["age"] == SUPPRESSED and out["mix"]["country"] == SUPPRESSED
    # (FR, suppressed) and (suppressed, 25-34) are each held by one member: the whole row is suppressed
    assert out["odd"]["country"] == SUPPRESSED and out["mix"]["age"] == SUPPRESSED
    assert aggregate_counts(attrs, 3)["age"] == {"25-34": 4, "35-44": 3, SUPPRESSED: 1}


async def test_moderator_export_in_chat_stays_in_its_community(xapp: App, tmp_path: Path) -> None:
    first = await seed_round(xapp, "guild-1")
    await seed_round(xapp, "guild-2")
    mod2 = actor("mod", moderator=True, community="guild-2")
    refused = await xapp.engine.dispatch(c.ExportData(mod2, round_id=first.round_id))
    assert not refused.ok and "no round #1 in this community" in refused.text
    refused = await xapp.engine.dispatch(c.ExportData(first.members["alice"], round_id=first.round_id))
    assert not refused.ok and "moderators" in refused.text.lower()
    reply = await xapp.engine.dispatch(c.ExportData(mod2, formats=("trl", "polis"), parquet=True))
    assert reply.ok, reply.text
    assert reply.attachment is not None and reply.attachment.mime == "application/zip"
    with zipfile.ZipFile(io.BytesIO(reply.attachment.data)) as z:
        z.extractall(tmp_path)
        names = z.namelist()
    (folder,) = {n.split("/")[0] for n in names}
    assert "guild-2" in folder
    root = tmp_path / folder
    assert verify_bundle(root) == []
    assert {p.name for p in root.glob("parquet/*.parquet")} == {"trl_preference.parquet"}
    text = everything(root)
    assert aid("guild-2", "alice") in text and aid("guild-1", "alice") not in text


async def test_export_command_refuses_without_secret(app: App) -> None:
    s = await seed_round(app)
    reply = await app.engine.dispatch(c.ExportData(s.mod, round_id=s.round_id))
    assert not reply.ok and "POLICYBOT_EXPORT_SECRET" in reply.text
    shown = await app.engine.dispatch(c.PrivacyShow(s.members["alice"]))
    assert shown.ok and "Your id in exports" not in str(shown.fields)


async def test_privacy_show_lists_what_is_held(xapp: App) -> None:
    s = await seed_round(xapp)
    reply = await xapp.engine.dispatch(c.PrivacyShow(s.members["alice"]))
    assert reply.ok and reply.attachment is not None
    fields = {f.name: f.value for f in reply.fields}
    assert fields["Your id in exports"] == aid(s.community, "alice")
    assert "4 reaction events (2 with a written reason), 1 ballot events" in fields["What the bot holds"]
    held = json.loads(reply.attachment.data)
    assert held["member"] == "alice" and len(held["reactions"]) == 4
    assert held["amendments_proposed"][0]["rationale"] == "alice-rationale"


def test_parser_reads_export_and_privacy_commands() -> None:
    mod = actor("mod", moderator=True)
    cmd = parse("/export round 3 formats=trl,polis parquet", mod, "general")
    assert cmd == c.ExportData(mod, round_id=3, formats=("trl", "polis"), parquet=True)
    assert parse("/export policy kind", mod, "general") == c.ExportData(mod, policy="kind", formats=("all",))
    assert parse("/export community", mod, "general") == c.ExportData(mod)
    assert parse("/export settings licence=CC0-1.0 consent=required", mod, "general") == c.ExportSettings(mod, "CC0-1.0", True)
    assert parse("/export settings", mod, "general") == c.ExportSettings(mod)
    assert parse("/privacy", mod, "g") == c.PrivacyShow(mod)
    assert parse("/privacy optout", mod, "g") == c.PrivacyExportChoice(mod, opt_out=True)
    assert parse("/privacy consent no", mod, "g") == c.PrivacyExportChoice(mod, consent=False)
    assert parse("/privacy erase confirm", mod, "g") == c.PrivacyErase(mod, confirm=True)
    assert parse("/privacy attributes agree country=FR age=25-34", mod, "g") == c.PrivacyAttributes(
        mod, (("country", "FR"), ("age", "25-34")), agree=True
    )
    for bad in ("/export", "/export round", "/export round x", "/export settings consent=maybe", "/privacy consent",
                "/privacy erase now", "/privacy attributes FR", "/privacy sell"):  # fmt: skip
        with pytest.raises(CommandError):
            parse(bad, mod, "g")


async def test_bad_export_input_is_refused_and_changes_nothing(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp)
    for cmd, needle in (
        (c.ExportData(s.mod, round_id=99), "no round #99"),
        (c.ExportData(s.mod, policy="nope"), "no policy named 'nope'"),
        (c.ExportData(s.mod, formats=("csv",)), "Unknown export format"),
        (c.ExportData(s.mod, round_id=1, policy="kind"), "not both"),
        (c.ExportSettings(s.mod, licence="no licence!"), "SPDX"),
        (c.PrivacyExportChoice(s.members["bob"]), "Choose one"),
    ):
        reply = await xapp.engine.dispatch(cmd)
        assert not reply.ok and needle in reply.text, (cmd, reply.text)


async def test_a_drafts_rationale_quoting_an_opted_out_member_is_withheld(xapp: App, tmp_path: Path) -> None:
    """The evidence as bot.generation.drafting stores it: the reasons under "reasons", by candidate."""
    s = await seed_round(xapp)
    async with xapp.engine.services.uow() as uow:
        alice_amendment = (await uow.session.exec(select(AmendmentRow).where(AmendmentRow.round_id == s.round_id))).one()
        evidence = {
            "candidates": [{"id": 1, "scenario_id": 1, "endorse": 2, "object": 1, "pass": 0, "signals": ["has reasons"]}],
            "reasons": [{"candidate": 1, "stance": "endorse", "reason": "bob-secret-reason"}],
            "prompt_hash": "0" * 64,
        }
        uow.session.add(
            AmendmentRow(
                community=s.community,
                round_id=s.round_id,
                kind="replace",
                clause_key="c3",
                text="Point to a doctor for medical questions.",
                rationale="Members asked for this: 'bob-secret-reason'.",
                proposed_by="policybot",
                origin=AmendmentOrigin.BOT.value,
                evidence_json=json.dumps(evidence),
                status="rejected",
                created_at=alice_amendment.created_at,
            )
        )
        await uow.commit()
    await ok(xapp, c.PrivacyExportChoice(s.members["bob"], opt_out=True))
    root = (await export(xapp, tmp_path, c_scope(s), formats=("amendments",))).directory
    (bot,) = [r for r in jsonl(root / "amendments.jsonl") if r["author_kind"] == "bot"]
    assert bot["rationale"] is None and bot["rationale_withheld"] == "quotes_excluded_member"
    assert "bob-secret-reason" not in everything(root)
