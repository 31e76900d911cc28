"""Results people can see: a post when REVIEW closes and when the round closes, and `/round results`
for anyone at any time. Only aggregates are shown (never who reacted how), and nothing at all until
MIN_REACTORS members have reacted, so a count cannot single anyone out."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import update
from sqlmodel import col

from bot.analysis.charts import results_chart
from bot.analysis.loading import compute, keep, load_for_analysis, mark_review_end
from bot.analysis.pipeline import RoundAnalysis
from bot.domain.model import Phase
from bot.domain.outputs import Attachment, Field, Post
from bot.services import Services
from storage.tables import RoundAnalysisRow, RoundRow

log = logging.getLogger("policybot.analysis")

MIN_REACTORS = 3  # fewer members than this: no numbers are shown
FIELD_LIMIT = 1000  # characters per field (Discord allows 1,024)
MAX_LINES = 12

STAGE_TITLE = {"review": "what members think after REVIEW", "final": "final reactions", "now": "reactions so far"}


def _pct(x: float) -> str:
    return f"{round(100 * x)}%"


def _clip(lines: list[str]) -> str:
    shown = lines[:MAX_LINES]
    if len(lines) > MAX_LINES:
        shown.append(f"… and {len(lines) - MAX_LINES} more")
    text = "\n".join(shown)
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 1] + "…"


def results_fields(a: RoundAnalysis) -> tuple[str, tuple[Field, ...]]:
    """The headline and the fields of a results post or reply."""
    n_cands = len(a.input.candidates)
    if a.members < MIN_REACTORS:
        return (
            f"{a.members} member(s) have reacted so far; results are shown once at least {MIN_REACTORS} have, "
            "so that no one's reactions can be told from the numbers.",
            (),
        )
    head = [f"{a.members} members reacted to {n_cands} candidate(s) ({a.reactions} reactions)."]
    fields: list[Field] = []
    plain = a.plain
    seen = {c: int(plain.seen[0, a.column(c)]) for c in a.matrix.candidates}
    share = {c: plain.agree[0, a.column(c)] / seen[c] if seen[c] else 0.0 for c in a.matrix.candidates}
    label = {c.id: c.label for c in a.input.candidates}
    if a.groups.ok:
        sizes = ", ".join(str(n) for n in a.groups.sizes())
        head.append(f"{a.groups.k} opinion groups of {sizes} members, found from how members reacted (the Polis method).")
        # above 0.5^k only when every group leans towards endorsing
        bar = 0.5**a.groups.k
        ranked = sorted(((c, v) for c, v in a.gac.items() if v > bar), key=lambda kv: -kv[1])[:5]
        lines = [f"{label[c]}: group-aware consensus {v:.2f}, {_pct(share[c])} endorse overall" for c, v in ranked]
        fields.append(Field("Endorsed across groups", _clip(lines) or "no candidate is endorsed by every group yet"))
    else:
        head.append(f"No opinion groups: {a.groups.reason}.")
    agreed = [c for c in a.consensus if c.direction == "agree"]
    rejected = [c for c in a.consensus if c.direction == "disagree"]
    lines = [f"{label[c.candidate]}: {c.n_success} of {c.n_trials} votes endorse" for c in agreed]
    lines += [f"{label[c.candidate]}: {c.n_success} of {c.n_trials} votes object" for c in rejected]
    fields.append(Field("Consensus (significant overall)", _clip(lines) or "none yet"))
    if a.groups.ok:
        gv = a.by_group
        assert gv is not None
        lines = []
        for cand, _spread in a.divisive:
            j = a.column(cand)
            by = ", ".join(
                f"group {g + 1} {_pct(gv.agree[g, j] / gv.seen[g, j]) if gv.seen[g, j] else '–'}" for g in range(a.groups.k)
            )
            lines.append(f"{label[cand]}: endorse {by}")
        fields.append(Field("Divisive (groups disagree)", _clip(lines) or "none"))
        sizes_list = a.groups.sizes()
        for g, reps in enumerate(a.representative):
            lines = []
            for r in reps:
                verb = "endorses" if r.direction == "agree" else "objects to"
                j = a.column(r.candidate)
                counts = gv.agree if r.direction == "agree" else gv.disagree
                rest, rest_seen = int(counts[:, j].sum() - counts[g, j]), int(gv.seen[:, j].sum() - gv.seen[g, j])
                mark = "" if r.significant else " (not significant)"
                lines.append(
                    f"{verb} {label[r.candidate]}: {r.n_success} of {r.n_trials} votes; others {rest} of {rest_seen}{mark}"
                )
            fields.append(Field(f"Group {g + 1} ({sizes_list[g]} members) stands for", _clip(lines) or "nothing distinctive yet"))
    else:
        lines = [
            f"{label[c]}: {int(plain.agree[0, a.column(c)])} endorse, {int(plain.disagree[0, a.column(c)])} object, "
            f"{seen[c] - int(plain.agree[0, a.column(c)]) - int(plain.disagree[0, a.column(c)])} pass"
            for c in a.matrix.candidates
        ]
        fields.append(Field("Counts", _clip(lines) or "no reactions"))
    lines = []
    for sc in a.scenarios:
        if not sc.compared:
            continue
        scenario = label[next(iter(sc.overall))].split("·")[0]
        scores = ", ".join(f"{label[c].split('·')[-1]} {v:+.2f}" for c, v in sc.overall.items())
        best = f"best {label[sc.top]}" if sc.top is not None else "no clear best"
        line = f"{scenario}: {best} (scores {scores})"
        if sc.bridging is not None:
            line += f"; bridging pick {label[sc.bridging]}"
        lines.append(line)
    if lines:
        fields.append(Field("Scores per scenario (Bradley-Terry, from best picks and endorse-over-object)", _clip(lines)))
    if a.bridging.ok:
        helpful = a.bridging.bridged()
        idx = {c: j for j, c in enumerate(a.bridging.candidates)}
        lines = [f"{label[c]}: intercept {a.bridging.intercept[idx[c]]:.2f}" for c in helpful]
        fields.append(Field("Endorsed across the divide (Community Notes model)", _clip(lines) or "none passes the bar yet"))
    return " ".join(head), tuple(fields[:25])


def results_post(channel: str, a: RoundAnalysis, stage: str, chart: Attachment | None) -> Post:
    headline, fields = results_fields(a)
    return Post(channel, f"Round #{a.input.round_id}: {STAGE_TITLE[stage]}", headline, fields, attachment=chart)


async def _chart(a: RoundAnalysis) -> Attachment | None:
    if a.members < MIN_REACTORS:
        return None
    return await asyncio.to_thread(results_chart, a)


async def transition_posts(svc: Services, round_id: int, from_phase: Phase, to_phase: Phase) -> list[Post]:
    """Called by bot.rounds.lifecycle.transition after its commit: marks the end of REVIEW and returns the
    results post of REVIEW or of the closed round. Never raises: results must not stop a transition."""
    try:
        if from_phase == Phase.REVIEW:
            stage = "review"
        elif to_phase == Phase.CLOSED:
            stage = "final"
        else:
            return []
        async with svc.uow() as uow:
            s = uow.session
            r = await s.get(RoundRow, round_id)
            if r is None:
                return []
            channel = r.channel
            if stage == "review":
                await mark_review_end(s, round_id, svc.now())
            prepared = await load_for_analysis(s, round_id, review_only=stage == "review")
            await uow.commit()
        a = await compute(prepared)  # no transaction open: reactions keep being recorded
        await keep(svc.uow, a, svc.now(), review=stage == "review")
        if stage == "review":
            async with svc.uow() as uow:
                await uow.session.exec(
                    update(RoundAnalysisRow).where(col(RoundAnalysisRow.round_id) == round_id).values(k=a.groups.k)
                )
                await uow.commit()
        return [results_post(channel, a, stage, await _chart(a))]
    except Exception:
        log.exception("results of round %s could not be computed", round_id)
        return []
