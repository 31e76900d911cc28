"""Generating a round's candidates after the OpenRound command has been answered.

Reads in one short transaction, calls the model with no transaction open, then stores the
candidates and moves the round OPENING → REVIEW in one compare-and-set transaction."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import update

from bot.commands import Actor
from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.model import AuthorKind, Phase
from bot.outputs import Reply
from bot.publishing import publish
from bot.queries import clauses_of, get_round, policy_of_version, round_scenarios, scenario_title, scenario_turns
from bot.sampling import CandidateDraft, sample_independent
from bot.services import Services
from bot.views import announcement, candidate_post, scenario_post
from storage.tables import CandidateRow, RoundRow

log = logging.getLogger("policybot.generation")


def unreachable_message(model: str, detail: str) -> str:
    return (
        f"Could not reach the model '{model}' ({detail}). Set POLICYBOT_MODEL to a litellm model name "
        "(e.g. openai/gpt-4o-mini or ollama/llama3.1), POLICYBOT_LLM_API_BASE for a local or proxy "
        "server, and the provider's key (e.g. OPENAI_API_KEY), then open the round again."
    )


async def generate_round(svc: Services, round_id: int, moderator: Actor) -> None:
    async with svc.uow() as uow:
        s = uow.session
        r = await get_round(s, moderator.community, round_id)
        policy, version = await policy_of_version(s, r.policy_version_id)
        clauses = await clauses_of(s, r.policy_version_id)
        scenarios = await round_scenarios(s, round_id)
    limit = asyncio.Semaphore(svc.options.llm_concurrency)

    async def for_scenario(turns_json_row: object) -> list[CandidateDraft]:
        _, sc = turns_json_row  # type: ignore[misc]
        return await sample_independent(
            svc.generator, policy.name, clauses, scenario_turns(sc), r.k, temperature=svc.options.temperature, limit=limit
        )

    results = await asyncio.gather(*(for_scenario(pair) for pair in scenarios), return_exceptions=True)
    unavailable = next((x for x in results if isinstance(x, GeneratorUnavailable)), None)
    failed = [(sc, x) for (_, sc), x in zip(scenarios, results, strict=True) if isinstance(x, BaseException)]
    for _, exc in failed:
        if not isinstance(exc, GeneratorUnavailable | GeneratorFailed):
            log.error("unexpected generation error in round %s", round_id, exc_info=exc)
    if unavailable is not None or len(failed) == len(scenarios):
        if unavailable is not None:
            why = unreachable_message(unavailable.model, unavailable.detail)
        else:
            why = "Every scenario failed: " + "; ".join(f"#{sc.id}: {exc}" for sc, exc in failed)
        await _cancel_opening(svc, round_id, why)
        await svc.chat.reply_privately(moderator, Reply(f"Round #{round_id} was not opened: {why}", ok=False))
        return

    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        ends = now + timedelta(seconds=r.review_seconds)
        changed = await s.exec(
            update(RoundRow)
            .where(RoundRow.id == round_id, RoundRow.phase == Phase.OPENING.value)  # type: ignore[arg-type]
            .values(phase=Phase.REVIEW.value, phase_changed_at=now, phase_ends_at=ends)
        )
        if changed.rowcount != 1:  # cancelled while we were generating
            return
        candidates: list[CandidateRow] = []
        for (_, sc), drafts in zip(scenarios, results, strict=True):
            if isinstance(drafts, BaseException):
                continue
            for pos, d in enumerate(drafts):
                candidates.append(
                    CandidateRow(
                        round_id=round_id,
                        scenario_id=sc.id or 0,
                        position=pos,
                        text=d.text,
                        author_kind=AuthorKind.MODEL.value,
                        model=d.model,
                        method=d.method,
                        temperature=d.temperature,
                        prompt_version=d.prompt_version,
                        prompt_hash=d.prompt_hash,
                        settings_json=d.settings_json,
                        created_at=now,
                    )
                )
        s.add_all(candidates)
        await uow.commit()
        r = await get_round(s, moderator.community, round_id)

    ok_scenarios = [(rs, sc) for (rs, sc), x in zip(scenarios, results, strict=True) if not isinstance(x, BaseException)]
    await publish(svc, announcement(r, policy.name, version.version, len(ok_scenarios), len(candidates)))
    by_scenario: dict[int, list[CandidateRow]] = {}
    for c in candidates:
        by_scenario.setdefault(c.scenario_id, []).append(c)
    for rs, sc in ok_scenarios:
        parent = await publish(svc, scenario_post(r, rs.position, sc.id or 0, rs.id or 0, scenario_turns(sc), scenario_title(sc)))
        for c in by_scenario.get(sc.id or 0, []):
            await publish(svc, candidate_post(r, c, parent))
    summary = f"Round #{round_id} is open for review with {len(candidates)} candidates."
    if failed:
        summary += " These scenarios failed and were left out: " + "; ".join(f"#{sc.id} ({exc})" for sc, exc in failed)
    await svc.chat.reply_privately(moderator, Reply(summary, ok=not failed))


async def _cancel_opening(svc: Services, round_id: int, why: str) -> None:
    async with svc.uow() as uow:
        await uow.session.exec(
            update(RoundRow)
            .where(RoundRow.id == round_id, RoundRow.phase == Phase.OPENING.value)  # type: ignore[arg-type]
            .values(phase=Phase.CANCELLED.value, phase_changed_at=svc.now(), phase_ends_at=None, note=why[:2000])
        )
        await uow.commit()
