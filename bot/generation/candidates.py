"""Generating a round's candidates after the OpenRound command has been answered.

Reads in one short transaction, calls the model with no transaction open, then stores the
candidates and moves the round OPENING → REVIEW in one compare-and-set transaction.

Progress: the round's announcement is posted when the first scenario's candidates arrive
("generating 4/40") and edited as more arrive (at most once a second), then edited into the
final announcement. A model that cannot be reached cancels the round before anything is posted.
Partial failure: the round opens with the scenarios that worked; the moderator is told which
failed and how to retry just those (/round retry), which is `generate_more` below, also used for
stress cases accepted into a running round."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, func, select

from bot.domain.commands import Actor
from bot.domain.model import AuthorKind, ClauseText, Phase
from bot.domain.outputs import Post, Reply, Subject
from bot.errors import GeneratorFailed, GeneratorUnavailable, PhaseChanged
from bot.generation import diversity
from bot.generation.calls import CallContext, call_limit, prefetch
from bot.generation.sampling import CandidateDraft, cache_keys, sample
from bot.rounds.deadlines import planned_end
from bot.rounds.posts import announcement, candidate_post, scenario_post
from bot.rounds.publishing import publish, remember
from bot.rounds.queries import (
    clauses_of,
    get_round,
    policy_of_version,
    round_scenarios,
    scenario_title,
    scenario_turns,
    scenarios_with_candidates,
    still_in,
)
from bot.services import Services
from storage.tables import CandidateRow, PolicyRow, PolicyVersionRow, RoundRow, RoundScenarioRow, ScenarioRow

log = logging.getLogger("policybot.generation")

PROGRESS_EVERY = 1.0  # seconds between edits of the announcement while generating (platform rate limits)


def unreachable_message(model: str, detail: str) -> str:
    return (
        f"Could not reach the model '{model}' ({detail}). Set POLICYBOT_MODEL to a litellm model name "
        "(e.g. openai/gpt-4o-mini or ollama/llama3.1), POLICYBOT_LLM_API_BASE for a local or proxy "
        "server, and the provider's key (e.g. OPENAI_API_KEY), then open the round again."
    )


def retry_command(round_id: int, scenario_ids: Sequence[int]) -> str:
    return f"/round retry {round_id} {','.join(str(i) for i in scenario_ids)}"


@dataclass
class Plan:
    r: RoundRow
    policy: PolicyRow
    version: PolicyVersionRow
    clauses: list[ClauseText]
    scenarios: list[tuple[RoundScenarioRow, ScenarioRow]]


async def read_plan(svc: Services, community: str, round_id: int, only: Sequence[int] | None = None) -> Plan:
    async with svc.uow() as uow:
        s = uow.session
        r = await get_round(s, community, round_id)
        policy, version = await policy_of_version(s, r.policy_version_id)
        clauses = await clauses_of(s, r.policy_version_id)
        scenarios = await round_scenarios(s, round_id)
    if only is not None:
        wanted = set(only)
        scenarios = [(rs, sc) for rs, sc in scenarios if sc.id in wanted]
    return Plan(r, policy, version, clauses, scenarios)


@dataclass
class Progress:
    """Edits the round's announcement as candidates arrive."""

    svc: Services
    plan: Plan
    total: int
    done: int = 0
    key: str | None = None
    last_edit: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def post(self) -> Post:
        p = self.plan
        return Post(
            channel=p.r.channel,
            title=f"Policy round #{p.r.id}: {p.policy.name} v{p.version.version}",
            text=f"Generating candidates with {self.svc.generator.model}: {self.done}/{self.total}…",
            subject=Subject("round", p.r.id or 0),
        )

    async def add(self, n: int) -> None:
        async with self.lock:  # one post, then edits in order
            self.done += n
            now = time.monotonic()
            try:
                if self.key is None:
                    self.key = await publish(self.svc, self.post())
                    self.last_edit = now
                elif now - self.last_edit >= PROGRESS_EVERY and self.done < self.total:
                    await self.svc.chat.edit(self.key, self.post())
                    self.last_edit = now
            except Exception:  # progress is a courtesy: a platform hiccup must not lose the candidates
                log.warning("round %s: progress update failed", self.plan.r.id, exc_info=True)


async def generate_for(
    svc: Services, plan: Plan, progress: Progress | None, *, community: str
) -> list[list[CandidateDraft] | BaseException]:
    """K candidates for every scenario of the plan; an exception in place of a scenario that failed."""
    limit = call_limit(svc)
    ctx = CallContext(community, plan.r.id, "candidates")
    method, temperature, model = svc.options.sampling, svc.options.temperature, svc.generator.model
    keys = [
        key
        for _, sc in plan.scenarios
        for key in cache_keys(method, plan.policy.name, plan.clauses, scenario_turns(sc), plan.r.k, temperature, model)
    ]
    cached = await prefetch(svc, keys)  # one query for the whole batch, so the calls start at once

    async def one(sc: ScenarioRow) -> list[CandidateDraft]:
        drafts = await sample(
            svc,
            svc.options.sampling,
            plan.policy.name,
            plan.clauses,
            scenario_turns(sc),
            plan.r.k,
            temperature=svc.options.temperature,
            ctx=ctx,
            limit=limit,
            prefetched=cached,
        )
        if progress is not None:
            await progress.add(len(drafts))
        return drafts

    results = await asyncio.gather(*(one(sc) for _, sc in plan.scenarios), return_exceptions=True)
    for x in results:
        if isinstance(x, BaseException) and not isinstance(x, GeneratorUnavailable | GeneratorFailed):
            log.error("unexpected generation error in round %s", plan.r.id, exc_info=x)
    return list(results)


def candidate_rows(
    round_id: int,
    scenario_id: int,
    drafts: list[CandidateDraft],
    start: int,
    now: datetime,
    amendment_id: int | None = None,
) -> list[CandidateRow]:
    """Rows for model drafts of one scenario, labelled from `start`; with `amendment_id`, a preview."""
    return [
        CandidateRow(
            round_id=round_id,
            scenario_id=scenario_id,
            amendment_id=amendment_id,
            position=start + pos,
            text=d.text,
            author_kind=AuthorKind.MODEL.value,
            model=d.model[:200],
            method=d.method,
            temperature=d.temperature,
            prompt_version=d.prompt_version,
            prompt_hash=d.prompt_hash,
            settings_json=d.settings_json,
            created_at=now,
        )
        for pos, d in enumerate(drafts)
    ]


def _failure_text(failed: list[tuple[ScenarioRow, BaseException]]) -> str:
    return "; ".join(f"#{sc.id} ({exc})" for sc, exc in failed)


async def generate_round(svc: Services, round_id: int, moderator: Actor) -> None:
    plan = await read_plan(svc, moderator.community, round_id)
    r = plan.r
    progress = Progress(svc, plan, total=len(plan.scenarios) * r.k)
    results = await generate_for(svc, plan, progress, community=moderator.community)
    unavailable = next((x for x in results if isinstance(x, GeneratorUnavailable)), None)
    failed = [(sc, x) for (_, sc), x in zip(plan.scenarios, results, strict=True) if isinstance(x, BaseException)]
    if unavailable is not None or len(failed) == len(plan.scenarios):
        if unavailable is not None:
            why = unreachable_message(unavailable.model, unavailable.detail)
        else:
            why = "Every scenario failed: " + "; ".join(f"#{sc.id}: {exc}" for sc, exc in failed)
        await _cancel_opening(svc, round_id, why)
        if progress.key is not None:
            title = f"Policy round #{r.id}: {plan.policy.name} v{plan.version.version}"
            await svc.chat.edit(progress.key, Post(r.channel, title, "This round could not be opened and was cancelled."))
        await svc.chat.reply_privately(moderator, Reply(f"Round #{round_id} was not opened: {why}", ok=False))
        return

    now = svc.now()
    candidates: list[CandidateRow] = []  # built before the transaction: it writes, and writers queue
    for (_, sc), drafts in zip(plan.scenarios, results, strict=True):
        if not isinstance(drafts, BaseException):
            candidates += candidate_rows(round_id, sc.id or 0, drafts, 0, now)
    async with svc.uow() as uow:
        s = uow.session
        ends = await planned_end(s, r, Phase.REVIEW, now)  # scheduling: an explicit end time wins
        changed = await s.exec(
            update(RoundRow)
            .where(col(RoundRow.id) == round_id, col(RoundRow.phase) == Phase.OPENING.value)
            .values(phase=Phase.REVIEW.value, phase_changed_at=now, phase_ends_at=ends)
        )
        if changed.rowcount != 1:  # cancelled while we were generating
            return
        s.add_all(candidates)
        await uow.commit()
        r = await get_round(s, moderator.community, round_id)
    svc.schedule_changed(round_id)  # scheduling: arm the review deadline

    ok = [(rs, sc) for (rs, sc), x in zip(plan.scenarios, results, strict=True) if not isinstance(x, BaseException)]
    final = announcement(r, plan.policy.name, plan.version.version, len(ok), len(candidates))
    if progress.key is None:
        await publish(svc, final)
    else:
        await svc.chat.edit(progress.key, final)
    await _post_scenarios(svc, r, ok, candidates)
    figures = await diversity.record(svc, round_id, _texts_by_scenario(candidates))
    summary = f"Round #{round_id} is open for review with {len(candidates)} candidates."
    if figures:
        mean = sum(v for _, v in figures.values()) / len(figures)
        summary += f" Candidate diversity: {mean:.2f} ({next(iter(figures.values()))[0]})."
    if failed:
        ids = [sc.id or 0 for sc, _ in failed]
        summary += (
            f" These scenarios failed and were left out: {_failure_text(failed)}. "
            f"Retry just those with: {retry_command(round_id, ids)}"
        )
    await svc.chat.reply_privately(moderator, Reply(summary, ok=not failed))


def _texts_by_scenario(candidates: Sequence[CandidateRow]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for c in candidates:
        out.setdefault(c.scenario_id, []).append(c.text)
    return out


async def _post_scenarios(
    svc: Services, r: RoundRow, scenarios: Sequence[tuple[RoundScenarioRow, ScenarioRow]], candidates: Sequence[CandidateRow]
) -> None:
    by_scenario: dict[int, list[CandidateRow]] = {}
    for c in candidates:
        by_scenario.setdefault(c.scenario_id, []).append(c)
    for rs, sc in scenarios:  # one transaction per scenario remembers its messages
        posted: list[tuple[Post, str]] = []
        parent = rs.thread_key
        if parent is None:
            post = scenario_post(r, rs.position, sc.id or 0, rs.id or 0, scenario_turns(sc), scenario_title(sc))
            parent = await svc.chat.post(post)
            posted.append((post, parent))
        for c in by_scenario.get(sc.id or 0, []):
            post = candidate_post(r, c, parent)
            posted.append((post, await svc.chat.post(post)))
        await remember(svc, posted)


async def scenarios_without_candidates(svc: Services, round_id: int) -> list[int]:
    async with svc.uow() as uow:
        have = await scenarios_with_candidates(uow.session, round_id)
        ids = [sc.id or 0 for _, sc in await round_scenarios(uow.session, round_id)]
    return [i for i in ids if i not in have]


async def generate_more(svc: Services, round_id: int, moderator: Actor, scenario_ids: Sequence[int], *, why: str) -> None:
    """Candidates for scenarios added to (or failed in) a round that is already open for review."""
    plan = await read_plan(svc, moderator.community, round_id, scenario_ids)
    if not plan.scenarios:
        return
    results = await generate_for(svc, plan, None, community=moderator.community)
    unavailable = next((x for x in results if isinstance(x, GeneratorUnavailable)), None)
    failed = [(sc, x) for (_, sc), x in zip(plan.scenarios, results, strict=True) if isinstance(x, BaseException)]
    ok = [(rs, sc) for (rs, sc), x in zip(plan.scenarios, results, strict=True) if not isinstance(x, BaseException)]
    now = svc.now()
    candidates: list[CandidateRow] = []
    try:
        async with still_in(svc.uow, moderator.community, round_id, Phase.REVIEW) as (uow, r):
            s = uow.session
            have = await scenarios_with_candidates(s, round_id)
            for (_, sc), drafts in zip(plan.scenarios, results, strict=True):
                if isinstance(drafts, BaseException) or sc.id in have:  # a concurrent retry got there first
                    continue
                last = (
                    await s.exec(
                        select(func.max(CandidateRow.position)).where(
                            CandidateRow.round_id == round_id,
                            CandidateRow.scenario_id == sc.id,
                            col(CandidateRow.amendment_id).is_(None),
                        )
                    )
                ).one()
                candidates += candidate_rows(round_id, sc.id or 0, drafts, (last if last is not None else -1) + 1, now)
            s.add_all(candidates)
            await uow.commit()
            n_scen = len(await round_scenarios(s, round_id))
            n_cand = (
                await s.exec(
                    select(func.count())
                    .select_from(CandidateRow)
                    .where(CandidateRow.round_id == round_id, col(CandidateRow.amendment_id).is_(None))
                )
            ).one()
    except PhaseChanged:
        await svc.chat.reply_privately(
            moderator,
            Reply(f"Round #{round_id} left REVIEW while generating ({why}); the new candidates were not added.", ok=False),
        )
        return
    added = {c.scenario_id for c in candidates}
    await _post_scenarios(svc, r, [(rs, sc) for rs, sc in ok if sc.id in added], candidates)
    if r.announcement_key and candidates:
        await svc.chat.edit(r.announcement_key, announcement(r, plan.policy.name, plan.version.version, n_scen, n_cand))
    await diversity.record(svc, round_id, _texts_by_scenario(candidates))
    text = f"Round #{round_id} ({why}): {len(candidates)} new candidate(s) for {len(added)} scenario(s)."
    if unavailable is not None:
        text += " " + unreachable_message(unavailable.model, unavailable.detail)
    if failed:
        ids = [sc.id or 0 for sc, _ in failed]
        text += f" Failed again: {_failure_text(failed)}. Retry with: {retry_command(round_id, ids)}"
    await svc.chat.reply_privately(moderator, Reply(text, ok=not failed))


async def resume_opening(svc: Services) -> list[int]:
    """Rounds left in OPENING by a process that stopped while generating: generate them again (the
    answers already received come from the cache). Opening is a compare-and-set, so a round that
    another process finishes meanwhile is opened once. Returns the round ids resumed."""
    async with svc.uow() as uow:
        stuck = (await uow.session.exec(select(RoundRow).where(col(RoundRow.phase) == Phase.OPENING.value))).all()
    for r in stuck:
        moderator = Actor(r.platform, r.community, r.opened_by, r.opened_by, is_moderator=True)
        svc.spawn(generate_round(svc, r.id or 0, moderator), name=f"generate-round-{r.id}")
    return [r.id or 0 for r in stuck]


async def _cancel_opening(svc: Services, round_id: int, why: str) -> None:
    async with svc.uow() as uow:
        await uow.session.exec(
            update(RoundRow)
            .where(col(RoundRow.id) == round_id, col(RoundRow.phase) == Phase.OPENING.value)
            .values(phase=Phase.CANCELLED.value, phase_changed_at=svc.now(), phase_ends_at=None, note=why[:2000])
        )
        await uow.commit()


# ---------------------------------------------------------------- commands and status
