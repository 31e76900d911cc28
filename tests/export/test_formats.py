"""What each format says, row by row: reasons tied to the reaction they came with, the Community
Alignment turns and its fifth (member-written) response, OpenAI lines pooled by majority, the
amendments file, the policy as system message, and a card whose counts reconcile with the files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from sqlmodel import select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.model import AmendmentOrigin, Stance
from bot.export import Scope
from bot.generation.prompts import candidate_system_prompt
from bot.rounds.queries import clauses_of
from storage.tables import AmendmentRow, RoundRow
from tests.export.checkers import check_community_alignment
from tests.export.seed import Seeded, member, ok, seed_round
from tests.export.test_bundle import aid, export, jsonl

_keys = itertools.count(1)


async def react(app: App, s: Seeded, who: str, cand: int, stance: Stance, reason: str = "", removed: bool = False) -> None:
    """One more reaction in the seeded round, by a seeded member or a new one."""
    actor = s.members.setdefault(who, member(who, s.community))
    key = f"{s.community}-extra-{next(_keys)}"
    await ok(app, c.RecordReaction(actor, stance, key, candidate_id=cand, reason=reason, removed=removed))


def everything_but_events(root: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.jsonl")) if p.name != "events.jsonl")


async def test_a_reason_belongs_to_the_reaction_it_came_with(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp, close=False)
    a, b, c_ = s.candidates[min(s.candidates)]
    await react(xapp, s, "eve", a, Stance.ENDORSE, "eve-endorse-reason")  # then objects, without a reason
    await react(xapp, s, "eve", a, Stance.OBJECT)
    await react(xapp, s, "frank", b, Stance.OBJECT, "frank-object-reason")  # then picks another best, no reason
    await react(xapp, s, "frank", c_, Stance.BEST)
    await react(xapp, s, "gina", c_, Stance.ENDORSE, "gina-removed-reason")  # then takes it back
    await react(xapp, s, "gina", c_, Stance.ENDORSE, removed=True)
    await react(xapp, s, "gina", b, Stance.PASS)
    root = (
        await export(xapp, tmp_path, Scope(s.community, s.round_id), formats=("kto", "community-alignment", "events"))
    ).directory
    kto = {(r["annotator_id"], r["candidate_id"]): r for r in jsonl(root / "trl_unpaired.jsonl")}
    eve, frank, gina = (aid(s.community, m) for m in ("eve", "frank", "gina"))
    assert kto[(eve, a)]["label"] is False and kto[(eve, a)]["feedback"] is None  # the endorse's reason stays with the endorse
    assert kto[(frank, b)]["feedback"] == "frank-object-reason"
    assert (gina, c_) not in kto
    assert kto[(aid(s.community, "alice"), c_)]["feedback"] == "alice-object-reason"
    ca = {r["annotator_id"]: r for r in jsonl(root / "community_alignment.jsonl") if r["scenario_id"] == min(s.candidates)}
    assert ca[frank]["first_turn_preferred_response"] == "response_c" and ca[frank]["first_turn_feedback"] is None
    assert ca[frank]["stance_feedback"] == [None, "frank-object-reason", None]  # an object's reason is no best pick's feedback
    assert ca[eve]["stances"] == ["object", None, None] and ca[eve]["stance_feedback"] == [None, None, None]
    assert ca[gina]["stances"] == [None, "pass", None]
    assert ca[aid(s.community, "alice")]["first_turn_feedback"] == "alice-best-reason"
    text = everything_but_events(root)
    for gone in ("eve-endorse-reason", "gina-removed-reason"):
        assert gone not in text, gone
    assert "bob-secret-reason" in text  # bob's endorse of A is still his stance
    assert "gina-removed-reason" in (root / "events.jsonl").read_text(encoding="utf-8")  # the raw log keeps every event


async def test_community_alignment_turns_and_the_member_written_response(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp, close=False)
    s1, s2 = (s.candidates[k] for k in sorted(s.candidates))
    await react(xapp, s, "ivy", s.human, Stance.BEST, "ivy-best-reason")  # the member-written response as best
    result = await export(xapp, tmp_path, Scope(s.community, s.round_id), formats=("community-alignment",), parquet=True)
    rows = jsonl(result.directory / "community_alignment.jsonl")
    for row in rows:
        check_community_alignment(row)
        assert "first_turn_response_e" not in row and not any(k.endswith("_e") for k in row)
    by = {(r["annotator_id"], r["scenario_id"]): r for r in rows}
    bob = by[(aid(s.community, "bob"), max(s.candidates))]  # scenario 2: user, assistant, user
    assert (bob["first_turn_prompt"], bob["first_turn_response_a"]) == ("Is coffee healthy?", "In moderation.")
    assert bob["first_turn_response_b"] is None and bob["first_turn_preferred_response"] is None
    assert bob["second_turn_prompt"] == "How much?" and bob["candidates_turn"] == "second"
    assert bob["second_turn_preferred_response"] == "response_b" and bob["candidate_ids"] == s2
    assert bob["second_turn_response_d"] is None and bob["third_turn_prompt"] is None
    assert bob["prompt"][-1] == {"role": "user", "content": "How much?"}
    ivy = by[(aid(s.community, "ivy"), min(s.candidates))]
    assert ivy["candidate_ids"] == s1 and ivy["first_turn_response_d"] is None  # three model candidates in a–c
    assert [x["candidate_id"] for x in ivy["additional_responses"]] == [s.human]
    assert ivy["additional_responses"][0]["author_kind"] == "human"
    assert ivy["first_turn_preferred_response"] is None and ivy["preferred_candidate_id"] == s.human
    assert ivy["first_turn_feedback"] == "ivy-best-reason"
    assert ivy["is_pregenerated_first_prompt"] is True and ivy["assigned_lang"] is None
    assert len({r["conversation_id"] for r in rows}) == len(rows)
    assert result.manifest["counts"]["community_alignment_rows_with_best_pick"] == sum(
        r["preferred_candidate_id"] is not None for r in rows
    )


async def test_openai_lines_follow_the_majority_and_drop_ties(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp, close=False)
    a, b, _ = s.candidates[min(s.candidates)]
    await react(xapp, s, "jo", a, Stance.OBJECT)  # jo: B over A, against alice (best A) and bob (A over B)
    await react(xapp, s, "jo", b, Stance.ENDORSE)
    result = await export(xapp, tmp_path, Scope(s.community, s.round_id), formats=("openai", "trl"))
    root = result.directory
    lines, side = jsonl(root / "openai_preference.jsonl"), jsonl(root / "openai_preference.provenance.jsonl")
    texts = _texts(jsonl(root / "trl_preference.jsonl"))
    seen = [
        (json.dumps(r["input"]), frozenset((r["preferred_output"][0]["content"], r["non_preferred_output"][0]["content"])))
        for r in lines
    ]
    assert len(seen) == len(set(seen))  # one line per prompt and pair, never both directions
    pair = {
        (r["preferred_output"][0]["content"], r["non_preferred_output"][0]["content"]): p
        for r, p in zip(lines, side, strict=True)
    }
    ab = pair[(texts[a], texts[b])]
    assert (ab["preferred_by"], ab["non_preferred_by"]) == (2, 1) and (texts[b], texts[a]) not in pair
    assert {(x["preferred_candidate_id"], x["non_preferred_candidate_id"]) for x in ab["pairs"]} == {(a, b)}
    assert (texts[a], texts[s.human]) not in pair and (texts[s.human], texts[a]) not in pair  # alice A > H, carol H > A: a tie
    o = result.manifest["openai"]
    assert o["ties"] == 1 and o["majority"] == 1 and o["lines"] == len(lines) == o["unanimous"] + o["majority"]
    assert o["with_context"] == sum(len(r["input"]["messages"]) > 1 for r in lines) == 2  # scenario 2's two pairs
    card = (root / "README.md").read_text(encoding="utf-8")
    assert f"OpenAI preference lines: {len(lines)}" in card and "1 ties" in card


def _texts(trl: list[dict[str, Any]]) -> dict[int, str]:
    out: dict[int, str] = {}
    for r in trl:
        out[r["chosen_candidate_id"]] = r["chosen"][0]["content"]
        out[r["rejected_candidate_id"]] = r["rejected"][0]["content"]
    return out


async def test_the_amendments_file_as_privacy_allows(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp)
    async with xapp.engine.services.uow() as uow:
        alice_amendment = (await uow.session.exec(select(AmendmentRow).where(AmendmentRow.round_id == s.round_id))).one()
        draft = AmendmentRow(
            community=s.community,
            round_id=s.round_id,
            kind="replace",
            clause_key="c3",
            text="Point to a doctor for medical questions.",
            rationale="Members asked for this: 'bob-secret-reason'.",
            proposed_by="bot",
            origin=AmendmentOrigin.BOT.value,
            evidence_json=json.dumps(
                {"candidates": [{"id": 1, "reasons": [{"stance": "endorse", "reason": "bob-secret-reason"}]}]}
            ),
            status="rejected",
            created_at=alice_amendment.created_at,
        )
        uow.session.add(draft)
        await uow.commit()
    rows = {
        r["author_kind"]: r
        for r in jsonl((await export(xapp, tmp_path, Scope(s.community), formats=("amendments",))).directory / "amendments.jsonl")
    }
    member = rows["member"]
    assert (member["kind"], member["clause_id"], member["position"], member["text"]) == ("add", None, "at the end", "Be concise.")
    assert member["rationale"] == "alice-rationale" and member["withheld"] is None
    assert (member["yes"], member["no"], member["abstain"], member["adopted"], member["result"]) == (2, 1, 0, True, "adopted")
    bot = rows["bot"]
    assert bot["clause_id"] == "c3" and bot["clause_text"] == "Never give medical advice." and bot["result"] == "vote not closed"
    assert bot["rationale"].startswith("Members asked")
    await ok(xapp, c.PrivacyExportChoice(s.members["alice"], opt_out=True))
    await ok(xapp, c.PrivacyExportChoice(s.members["bob"], opt_out=True))
    again = {
        r["author_kind"]: r
        for r in jsonl(
            (await export(xapp, tmp_path, Scope(s.community), "again", formats=("amendments",))).directory / "amendments.jsonl"
        )
    }
    assert again["member"]["text"] is None and again["member"]["rationale"] is None and again["member"]["withheld"] == "opted_out"
    assert again["member"]["yes"] == 2 and again["member"]["result"] == "adopted"  # published totals stay
    assert again["bot"]["rationale"] is None and again["bot"]["rationale_withheld"] == "quotes_excluded_member"
    assert again["bot"]["text"] == "Point to a doctor for medical questions."


async def test_the_policy_as_system_message(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp, close=False)
    async with xapp.engine.services.uow() as uow:
        r = await uow.session.get(RoundRow, s.round_id)
        assert r is not None
        system = candidate_system_prompt("kind", await clauses_of(uow.session, r.policy_version_id))
    result = await export(
        xapp, tmp_path, Scope(s.community, s.round_id), formats=("trl", "trl-standard", "kto", "openai"), system_prompt=True
    )
    root = result.directory
    for name in ("trl_preference.jsonl", "trl_unpaired.jsonl"):
        for row in jsonl(root / name):
            assert row["prompt"][0] == {"role": "system", "content": system} and row["prompt"][1]["role"] == "user"
    for row in jsonl(root / "trl_preference_standard.jsonl"):
        assert row["prompt"].startswith(f"System: {system}\n\nUser: ")
    for row in jsonl(root / "openai_preference.jsonl"):
        assert row["input"]["messages"][0] == {"role": "system", "content": system}
    assert "Prompts carry the policy" in (root / "README.md").read_text(encoding="utf-8")
    plain = await export(xapp, tmp_path, Scope(s.community, s.round_id), "plain", formats=("trl",))
    assert all(r["prompt"][0]["role"] == "user" for r in jsonl(plain.directory / "trl_preference.jsonl"))


async def test_the_card_reconciles_reactions_with_the_files(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp)  # 13 reaction events
    await ok(xapp, c.PrivacyExportChoice(s.members["bob"], opt_out=True))  # 3 events
    await ok(xapp, c.PrivacyErase(s.members["carol"], confirm=True))  # 3 events, and her response (alice endorsed it)
    result = await export(xapp, tmp_path, Scope(s.community), parquet=True)
    root = result.directory
    r = result.manifest["reaction_events"]
    assert r == {"held": 10, "opted_out": 3, "no_consent": 0, "on_withheld": 1, "exported": 6, "erased": 3}
    events = jsonl(root / "events.jsonl")
    assert (
        sum(e["type"] == "reaction" for e in events)
        == r["exported"]
        == r["held"] - r["opted_out"] - r["no_consent"] - r["on_withheld"]
    )
    card = (root / "README.md").read_text(encoding="utf-8")
    for line in (
        "- recorded and still held: 10",
        "- − of members who opted out of exports: 3",
        "- = exported: 6 (the reaction rows of the event log)",
        "(3 events from 1 members who erased their data)",
    ):
        assert line in card, line
    assert "of the community of community" not in card and "- Scope: every round of community `guild-1`" in card
    counts = result.manifest["counts"]
    files = {f["path"]: f["rows"] for f in result.manifest["files"]}
    assert counts["comparisons"] == files["trl_preference.jsonl"] == files["parquet/trl_preference.parquet"]
    assert counts["current_stances"] == files["polis/votes.csv"]
    assert counts["candidates"] == files["polis/comments.csv"]
    assert counts["unpaired_endorse"] + counts["unpaired_object"] == files["trl_unpaired.jsonl"]
    assert counts["reaction_events"] + counts["ballot_events"] == files["events.jsonl"]
    assert "Shown: 3 model candidates for 2 scenarios under the policy version." in card
    assert "Polis comments nobody voted on: 0 preview candidates" in card
