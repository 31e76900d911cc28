"""A 25-member round played through the engine, exported in every format, and checked against what
the script did: every comparison, unpaired row, Polis vote and OpenAI line is derived again here from
the scripted reactions, every config loads in `datasets`, and the card's counts add up."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlmodel import col, select

from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.model import Stance
from bot.export import Scope
from storage.tables import AmendmentRow, CandidateRow
from tests.export.checkers import check_community_alignment, read_polis
from tests.export.seed import Crowd, ok, seed_crowd
from tests.export.test_bundle import aid, assert_configs_load, export, jsonl

OPTED_OUT, ERASED = "m07", "m09"


def expected_pairs(crowd: Crowd, members: set[str], groups: dict[tuple[int, int], list[int]]) -> set[tuple[str, int, int, str]]:
    """The documented rule: the best pick over every other candidate of its scenario, then endorsed
    over objected within a scenario unless the best pick already ordered the two."""
    out: set[tuple[str, int, int, str]] = set()
    for who in members:
        seen: set[tuple[int, int]] = set()
        for group, cands in groups.items():
            pick = crowd.best.get((who, group))
            if pick is not None:
                for other in cands:
                    if other != pick[0]:
                        out.add((who, pick[0], other, "best"))
                        seen |= {(pick[0], other), (other, pick[0])}
            ends = [x for x in cands if crowd.stance.get((who, x), (None,))[0] == Stance.ENDORSE]
            objs = [x for x in cands if crowd.stance.get((who, x), (None,))[0] == Stance.OBJECT]
            out |= {(who, e, o, "stance") for e in ends for o in objs if (e, o) not in seen}
    return out


async def test_a_25_member_round_exports_what_was_scripted(papp: App, tmp_path: Path) -> None:
    crowd = await seed_crowd(papp)
    await ok(papp, c.PrivacyExportChoice(crowd.members[OPTED_OUT], opt_out=True))
    await ok(papp, c.PrivacyErase(crowd.members[ERASED], confirm=True))
    result = await export(papp, tmp_path, Scope(crowd.community, crowd.round_id), parquet=True, system_prompt=True)
    root = result.directory
    assert_configs_load(root, tmp_path / "hf-cache", result.manifest)
    async with papp.engine.services.uow() as uow:
        rows = (await uow.session.exec(select(CandidateRow).where(CandidateRow.round_id == crowd.round_id))).all()
        amendment_text = {
            a.id: a.text
            for a in (await uow.session.exec(select(AmendmentRow).where(col(AmendmentRow.round_id) == crowd.round_id)))
        }
    text = {r.id or 0: r.text for r in rows}
    groups: dict[tuple[int, int], list[int]] = {}
    for cid, group in sorted(crowd.group_of.items()):
        groups.setdefault(group, []).append(cid)
    members = set(crowd.members) - {OPTED_OUT, ERASED}
    name_of = {aid(crowd.community, m): m for m in crowd.members}

    pairs = expected_pairs(crowd, members, groups)
    trl = jsonl(root / "trl_preference.jsonl")
    assert {(name_of[r["annotator_id"]], r["chosen_candidate_id"], r["rejected_candidate_id"], r["basis"]) for r in trl} == pairs
    assert len(trl) == len(pairs) == result.manifest["counts"]["comparisons"]
    assert len(pairs) > 150  # a real round, not a toy
    kto = {(name_of[r["annotator_id"]], r["candidate_id"], r["label"], r["feedback"]) for r in jsonl(root / "trl_unpaired.jsonl")}
    assert kto == {
        (who, cand, stance == Stance.ENDORSE, reason or None)
        for (who, cand), (stance, reason) in crowd.stance.items()
        if who in members and stance in (Stance.ENDORSE, Stance.OBJECT)
    }

    replaced = crowd.amendments[1]  # replaces clause 2, "Cite sources."
    for r in trl:  # the policy, amended for a preview, is the system message
        assert r["prompt"][0]["role"] == "system"
        system = r["prompt"][0]["content"]
        assert "Be kind." in system and ("Cite sources." in system) == (r["amendment_id"] != replaced)
        if r["amendment_id"]:
            assert amendment_text[r["amendment_id"]] in system
    assert {r["amendment_id"] for r in trl} >= set(crowd.amendments)

    polis = read_polis(root / "polis")
    with (root / "polis" / "participant-annotators.csv").open(encoding="utf-8") as f:
        pid = {line.split(",")[0]: name_of[line.strip().split(",")[1]] for line in list(f)[1:]}
    votes = {(pid[v["voter-id"]], int(v["comment-id"]), int(v["vote"])) for v in polis["votes.csv"]}
    vote_of = {Stance.ENDORSE: 1, Stance.OBJECT: -1, Stance.PASS: 0}
    assert votes == {(w, cand, vote_of[s]) for (w, cand), (s, _) in crowd.stance.items() if w in members}

    lines = jsonl(root / "openai_preference.jsonl")
    pooled: Counter[tuple[tuple[int, int], str, str]] = Counter()  # by prompt (one per group here) and texts
    for _, chosen, rejected, _ in pairs:
        pooled[(crowd.group_of[chosen], text[chosen], text[rejected])] += 1
    decided = {(g, a, b) for (g, a, b), n in pooled.items() if n > pooled[(g, b, a)]}
    assert len(lines) == len(decided) == result.manifest["openai"]["lines"]
    assert result.manifest["openai"]["ties"] == sum(1 for (g, a, b), n in pooled.items() if a < b and n == pooled[(g, b, a)])

    ca = jsonl(root / "community_alignment.jsonl")
    for row in ca:
        check_community_alignment(row)
    assert any(x["candidate_id"] == crowd.human for row in ca for x in row["additional_responses"])
    feedback = (
        {row[f"{row['candidates_turn']}_turn_feedback"] for row in ca}
        | {x for row in ca for x in row["stance_feedback"]}
        | {r[3] for r in kto}
    )
    assert not feedback & crowd.reasons_taken_back

    r = result.manifest["reaction_events"]
    assert r["held"] + r["erased"] == crowd.sent
    assert r["exported"] == r["held"] - r["opted_out"] - r["no_consent"] - r["on_withheld"]
    assert r["exported"] == sum(e["type"] == "reaction" for e in jsonl(root / "events.jsonl"))
    assert r["opted_out"] > 0 and r["erased"] > 0
    card = (root / "README.md").read_text(encoding="utf-8")
    comments = {int(x["comment-id"]) for x in polis["comments.csv"]}
    nobody = comments - {cand for _, cand, _ in votes}
    previews = sum(crowd.group_of[cand][1] != 0 for cand in nobody)
    assert f"Polis comments nobody voted on: {previews} preview candidates" in card
