"""Amendment previews: when the vote opens, each proposed amendment's affected scenarios are
regenerated under the amended policy and posted before/after side by side (one post per scenario,
the current candidates and the preview candidates as fields), so members vote on outcomes, not
only on wording.

Which scenarios: for a bot draft, those its evidence came from; otherwise (and to fill up) the
round's scenarios with the most reactions, up to POLICYBOT_PREVIEW_SCENARIOS per amendment.
Preview candidates are CandidateRows with amendment_id set (same method, k and temperature)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import Counter

from sqlmodel import col, select

from bot.domain.model import ERASED_TEXT, AmendmentKind, AmendmentOrigin, AmendmentStatus, AuthorKind, ClauseText
from bot.domain.outputs import Field, Post
from bot.domain.tally import AmendmentSpec, ClauseValue, apply_amendments
from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.generation import diversity
from bot.generation.calls import CallContext, call_limit
from bot.generation.candidates import candidate_rows
from bot.generation.sampling import sample
from bot.rounds.outbox import deliver_round, enqueue
from bot.rounds.posts import describe_amendment, label
from bot.rounds.queries import clauses_of, policy_of_version, round_scenarios, scenario_title, scenario_turns
from bot.services import Services
from storage.tables import AmendmentRow, CandidateRow, ReactionEventRow, RoundRow, ScenarioRow

log = logging.getLogger("policybot.preview")

FIELD_LIMIT = 1000  # characters of a response shown per field (Discord: 1,024 a field)


def amended_clauses(clauses: list[ClauseText], a: AmendmentRow) -> list[ClauseText]:
    spec = AmendmentSpec(a.id or 0, AmendmentKind(a.kind), a.clause_key, a.text)
    after = apply_amendments([ClauseValue(c.key, c.text) for c in clauses], [spec], iter([f"new{a.id}"]))
    return [ClauseText(i, c.key, c.text) for i, c in enumerate(after, 1)]


def _cut(text: str) -> str:
    if not text:  # an erased answer
        return ERASED_TEXT
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 1] + "…"


def before_after_post(
    r: RoundRow, a: AmendmentRow, what: str, sc: ScenarioRow, before: list[CandidateRow], after: list[CandidateRow]
) -> Post:
    title = f"Amendment #{a.id} preview · scenario #{sc.id}: {scenario_title(sc)}"
    if not any(c.text for c in after):  # privacy: erased with its amendment or its scenario, whose author erased it
        return Post(r.channel, title, f"This preview of amendment #{a.id} was erased with what it answered.")
    fields: list[Field] = []
    for i in range(max(len(before), len(after))):
        if i < len(before):
            fields.append(Field(f"Now · {label(before[i].position)} (#{before[i].id})", _cut(before[i].text), inline=True))
        if i < len(after):
            fields.append(Field(f"Amended · {label(after[i].position)}′ (#{after[i].id})", _cut(after[i].text), inline=True))
    return Post(
        channel=r.channel,
        title=title,
        text=f"If the round adopts amendment #{a.id} ({what}), the model would answer like this.",
        fields=tuple(fields[:24]),
        untrusted=True,
    )


def evidence_scenarios(a: AmendmentRow) -> list[int]:
    """Scenario ids a bot draft's evidence came from (empty for a member's amendment)."""
    try:
        record = json.loads(a.evidence_json or "{}")
    except json.JSONDecodeError:
        return []
    out: list[int] = []
    for c in record.get("candidates", []) if isinstance(record, dict) else []:
        sid = c.get("scenario_id") if isinstance(c, dict) else None
        if isinstance(sid, int) and sid not in out:
            out.append(sid)
    return out


async def preview_round(svc: Services, round_id: int) -> None:
    async with svc.uow() as uow:
        ids = (
            await uow.session.exec(
                select(AmendmentRow.id)
                .where(AmendmentRow.round_id == round_id, AmendmentRow.status == AmendmentStatus.PROPOSED.value)
                .order_by(col(AmendmentRow.id))
            )
        ).all()
    for amendment_id in ids:
        if amendment_id is not None:
            await preview_amendment(svc, amendment_id)


async def preview_amendment(svc: Services, amendment_id: int) -> list[CandidateRow]:
    async with svc.uow() as uow:
        s = uow.session
        a = await s.get(AmendmentRow, amendment_id)
        if a is None:
            return []
        r = await s.get(RoundRow, a.round_id)
        assert r is not None and r.id is not None
        policy, _ = await policy_of_version(s, r.policy_version_id)
        clauses = await clauses_of(s, r.policy_version_id)
        scenarios = {sc.id or 0: sc for _, sc in await round_scenarios(s, r.id)}
        current = list(
            (
                await s.exec(
                    select(CandidateRow)
                    .where(
                        CandidateRow.round_id == r.id,
                        col(CandidateRow.amendment_id).is_(None),
                        CandidateRow.author_kind == AuthorKind.MODEL.value,
                        col(CandidateRow.text) != "",  # erased answers are not shown again
                    )
                    .order_by(col(CandidateRow.scenario_id), col(CandidateRow.position))
                )
            ).all()
        )
        reacted = (
            await s.exec(
                select(CandidateRow.scenario_id).where(
                    CandidateRow.round_id == r.id, col(CandidateRow.id) == ReactionEventRow.candidate_id
                )
            )
        ).all()
        done = set((await s.exec(select(CandidateRow.scenario_id).where(CandidateRow.amendment_id == amendment_id))).all())
    with_candidates = {c.scenario_id for c in current}
    activity = Counter(reacted)
    chosen = [sid for sid in evidence_scenarios(a) if sid in with_candidates]
    for sid in sorted(with_candidates, key=lambda x: (-activity[x], x)):
        if sid not in chosen:
            chosen.append(sid)
    chosen = [sid for sid in chosen[: svc.options.preview_scenarios] if sid not in done]
    if not chosen:
        return []
    amended = amended_clauses(clauses, a)
    limit = call_limit(svc)
    ctx = CallContext(r.community, r.id, "preview")

    proposer = (a.proposed_by,) if a.origin == AmendmentOrigin.MEMBER.value else ()

    async def one(sid: int) -> list[CandidateRow]:
        drafts = await sample(
            svc,
            svc.options.sampling,
            policy.name,
            amended,
            scenario_turns(scenarios[sid]),
            r.k,
            temperature=svc.options.temperature,
            ctx=dataclasses.replace(ctx, authors=(scenarios[sid].created_by, *proposer)),  # privacy: whose words it carries
            limit=limit,
        )
        return candidate_rows(r.id or 0, sid, drafts, 0, svc.now(), amendment_id=amendment_id)

    results = await asyncio.gather(*(one(sid) for sid in chosen), return_exceptions=True)
    rows, failed = _gathered(amendment_id, chosen, results)
    what = describe_amendment(a, {c.key: c.number for c in clauses})
    async with svc.uow() as uow:  # the previews and their posts, in one transaction
        s = uow.session
        s.add_all(rows)
        await s.flush()
        for sid in chosen:
            after = [c for c in rows if c.scenario_id == sid]
            if after:
                post = before_after_post(r, a, what, scenarios[sid], [c for c in current if c.scenario_id == sid], after)
                await enqueue(s, f"round:{r.id}:preview:{amendment_id}:{sid}", post, community=r.community, round_id=r.id)
        if failed:
            post = Post(
                r.channel, f"Amendment #{amendment_id}: some previews failed", "Scenarios without a preview: " + "; ".join(failed)
            )
            await enqueue(s, f"round:{r.id}:preview:{amendment_id}:failed", post, community=r.community, round_id=r.id)
        await uow.commit()
    await deliver_round(svc, r.id)
    groups: dict[int, list[str]] = {}
    for c in rows:
        groups.setdefault(c.scenario_id, []).append(c.text)
    await diversity.record(svc, r.id, groups, amendment_id=amendment_id)
    return rows


def _gathered(
    amendment_id: int, chosen: list[int], results: list[list[CandidateRow] | BaseException]
) -> tuple[list[CandidateRow], list[str]]:
    rows: list[CandidateRow] = []
    failed: list[str] = []
    for sid, res in zip(chosen, results, strict=True):
        if isinstance(res, GeneratorUnavailable | GeneratorFailed):
            failed.append(f"#{sid} ({res.detail})")
        elif isinstance(res, BaseException):
            log.error("preview of amendment %s failed", amendment_id, exc_info=res)
            failed.append(f"#{sid} (internal error)")
        else:
            rows += res
    return rows, failed
