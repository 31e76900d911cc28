"""Per-group summaries for the amendment drafter: structured, JSON-ready, no member ids."""

from __future__ import annotations

import json

from bot.analysis.pipeline import CandidateInfo, RoundInput, analyse
from bot.analysis.summary import RoundSummary, summarise
from bot.domain.model import Stance
from bot.domain.preferences import ReactionEvent


def camp_round(per_camp: int) -> RoundInput:
    """Two camps over 3 scenarios × 3 candidates; everyone endorses the last candidate."""
    cands = tuple(CandidateInfo(i + 1, 10 + i // 3, f"S{i // 3 + 1}·{'ABC'[i % 3]}", f"text of {i + 1}") for i in range(9))
    events: list[ReactionEvent] = []
    seq = 0
    for camp in (0, 1):
        for u in range(per_camp):
            for i in range(9):
                up = (i < 4) == (camp == 0) or i == 8
                seq += 1
                events.append(ReactionEvent(seq, f"camp{camp}-member{u}", i + 1, Stance.ENDORSE if up else Stance.OBJECT, False))
            seq += 1
            events.append(ReactionEvent(seq, f"camp{camp}-member{u}", 1 if camp == 0 else 3, Stance.BEST, False))
    return RoundInput(7, cands, {10: "a", 11: "b", 12: "c"}, tuple(events))


def test_groups_are_summarised_for_the_drafter() -> None:
    summary = summarise(analyse(camp_round(5)))
    assert isinstance(summary, RoundSummary)
    assert summary.round_id == 7 and summary.groups_found and summary.members == 10
    assert [g.size for g in summary.groups] == [5, 5]
    first = summary.groups[0].stands_for[0]
    assert first.direction in ("endorse", "object") and first.significant
    assert first.excerpt.startswith("text of") and first.label.startswith("S")
    assert 0.5 < first.share <= 1 and first.others_share < 0.5
    endorsed = {(s.candidate_id, s.direction) for s in summary.consensus}
    assert (9, "endorse") in endorsed
    assert 1 in summary.divisive and 9 not in summary.divisive
    assert summary.group_aware_consensus[9] > summary.group_aware_consensus[1]
    assert summary.top_by_scenario[12] == 9
    assert summary.bridging_by_scenario[12] == 9  # endorsed by both camps
    text = json.dumps(summary.as_dict())
    assert "camp0" not in text and "member" not in text.replace('"members"', "")


def test_small_round_says_why_there_are_no_groups() -> None:
    summary = summarise(analyse(camp_round(2)))
    assert not summary.groups_found and summary.groups == ()
    assert "plain counts" in summary.reason
    assert summary.members == 4 and summary.group_aware_consensus == {} and summary.bridging_by_scenario == {}
    assert summary.top_by_scenario[12] == 9  # plain Bradley-Terry scores still work
