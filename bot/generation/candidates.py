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
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.commands import Actor
from bot.domain.model import AuthorKind, ClauseText, Phase
from bot.domain.outputs import Post, Reply, Subject, with_note
from bot.errors import GeneratorFailed, GeneratorUnavailable, PhaseChanged
from bot.generation import diversity
from bot.generation.calls import CallContext, call_limit, forget, prefetch
from bot.generation.sampling import CandidateDraft, cache_keys, sample
from bot.rounds.deadlines import planned_end
from bot.rounds.outbox import (
    Delivery,
    Outgoing,
    announcement_key,
    candidate_key,
    deliver_round,
    enqueue,
    enqueue_all,
    enqueue_edit,
    scenario_key,
)
from bot.rounds.posts import announcement, candidate_post, scenario_post
from bot.rounds.publishing import publish
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
    key: str | None = None  # the announcement, once posted (a resumed opening goes on editing its own)
    last_edit: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def post(self) -> Post:
        p = self.plan
        return Post(
            channel=p.r.channel,
            title=f"Policy round #{p.r.id}: {p.policy.name} v{p.version.version}",
            text=f"Generating candidates with {self.svc.generator.model}: {self.done}/{self.total}…",
            subject=Subject("round", p.r.id or 0),
            community=p.r.community,
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
            ctx=dataclasses.replace(ctx, authors=(sc.created_by,)),  # privacy: the request carries her scenario
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
    """Generate, then open the round; any failure on the way ends the opening cleanly (cancelled, the
    opener told why), so no round is ever left in OPENING."""
    try:
        await _generate_round(svc, round_id, moderator)
    except Exception as e:
        log.exception("opening round %s failed", round_id)
        why = f"an internal error ({type(e).__name__}: {str(e)[:300]}); the details are in the bot's log"
        if await _cancel_opening(svc, round_id, f"Could not be opened: {why}."):
            await _tell(
                svc,
                moderator,
                Reply(
                    f"Round #{round_id} was not opened and was cancelled: {why}. "
                    "Nothing was posted; open it again with /round open.",
                    ok=False,
                ),
            )


async def _tell(svc: Services, who: Actor, reply: Reply) -> None:
    try:
        await svc.chat.reply_privately(who, reply)
    except Exception:
        log.warning("could not tell %s: %s", who.member, reply.text, exc_info=True)


async def _generate_round(svc: Services, round_id: int, moderator: Actor) -> None:
    plan = await read_plan(svc, moderator.community, round_id)
    r = plan.r
    if r.phase != Phase.OPENING.value:
        return
    progress = Progress(svc, plan, total=len(plan.scenarios) * r.k, key=r.announcement_key)
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
            with contextlib.suppress(Exception):  # a courtesy: the opener is told below either way
                cancelled = Post(r.channel, title, "This round could not be opened and was cancelled.", community=r.community)
                await svc.chat.edit(progress.key, cancelled)
        await _tell(svc, moderator, Reply(f"Round #{round_id} was not opened: {why}", ok=False))
        return
    ok = [(rs, sc) for (rs, sc), x in zip(plan.scenarios, results, strict=True) if not isinstance(x, BaseException)]
    candidates = await _open_for_review(svc, plan, results, progress.key)
    if candidates is None:  # cancelled while we were generating
        return
    svc.schedule_changed(round_id)  # scheduling: arm the review deadline
    delivery = await deliver_round(svc, round_id, answered=moderator)
    figures = await diversity.record(svc, round_id, _texts_by_scenario(candidates))
    summary = f"Round #{round_id} is open for review with {len(candidates)} candidates in {len(ok)} scenario(s)."
    if figures:
        mean = sum(v for _, v in figures.values()) / len(figures)
        summary += f" Candidate diversity: {mean:.2f} ({next(iter(figures.values()))[0]})."
    if failed:
        ids = [sc.id or 0 for sc, _ in failed]
        summary += (
            f" These scenarios failed and were left out: {_failure_text(failed)}. "
            f"Retry just those with: {retry_command(round_id, ids)}"
        )
    await _tell(svc, moderator, with_note(Reply(summary, ok=not failed), failure_message_for(delivery, round_id)))


def failure_message_for(delivery: Delivery, round_id: int) -> str:
    if delivery.ok:
        return ""
    return f"{delivery.note()} The review's clock is paused until then (/round resume {round_id})."


async def _open_for_review(
    svc: Services, plan: Plan, results: list[list[CandidateDraft] | BaseException], progress_key: str | None
) -> list[CandidateRow] | None:
    """OPENING → REVIEW with the candidates and every post it makes, in one transaction; None when
    the round left OPENING meanwhile. If the candidates cannot be stored, the answers they came from
    are dropped from the cache, so opening again asks the model afresh."""
    round_id = plan.r.id or 0
    now = svc.now()
    candidates: list[CandidateRow] = []  # built before the transaction: it writes, and writers queue
    for (_, sc), drafts in zip(plan.scenarios, results, strict=True):
        if not isinstance(drafts, BaseException):
            candidates += candidate_rows(round_id, sc.id or 0, drafts, 0, now)
    try:
        async with svc.uow() as uow:
            s = uow.session
            # Reads first: on SQLite this transaction holds the one write lock from its first write
            # to its commit, and every member's reaction waits for it meanwhile.
            ends = await planned_end(s, plan.r, Phase.REVIEW, now)  # scheduling: an explicit end time wins
            r = await get_round(s, plan.r.community, round_id)
            changed = await s.exec(
                update(RoundRow)
                .where(col(RoundRow.id) == round_id, col(RoundRow.phase) == Phase.OPENING.value)
                .values(phase=Phase.REVIEW.value, phase_changed_at=now, phase_ends_at=ends)
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:
                return None
            s.expunge(r)  # the copy read above, told what the UPDATE wrote (no second read)
            r.phase, r.phase_changed_at, r.phase_ends_at = Phase.REVIEW.value, now, ends
            await insert_candidates(s, candidates)
            ok = [(rs, sc) for (rs, sc), x in zip(plan.scenarios, results, strict=True) if not isinstance(x, BaseException)]
            final = announcement(r, plan.policy.name, plan.version.version, len(ok), len(candidates))
            if progress_key is None:
                await enqueue(s, announcement_key(round_id), final, community=r.community, round_id=round_id)
            else:
                await enqueue_edit(
                    s, announcement_key(round_id), final, community=r.community, round_id=round_id, message=progress_key
                )
            await enqueue_scenarios(s, r, ok, candidates)
            await uow.commit()
    except Exception:
        await forget(svc, [d.prompt_hash for x in results if not isinstance(x, BaseException) for d in x])
        raise
    return candidates


async def insert_candidates(s: AsyncSession, candidates: Sequence[CandidateRow]) -> None:
    """Many candidates in one INSERT … RETURNING (the ORM's flush costs far more per row, inside the
    transaction that holds the write lock); each row is given the id it was stored under. RETURNING's
    order is not guaranteed, and asking SQLAlchemy to sort it makes one statement per row on SQLite,
    so each id is matched by the row's place: (round, scenario, amendment, position) is unique."""
    if not candidates:
        return
    table: Any = CandidateRow.__table__  # type: ignore[attr-defined]
    place = (table.c.round_id, table.c.scenario_id, table.c.amendment_id, table.c.position)
    conn = await s.connection()
    stored = await conn.execute(insert(table).returning(table.c.id, *place), [c.model_dump(exclude={"id"}) for c in candidates])
    ids = {(rid, sid, aid, pos): cid for cid, rid, sid, aid, pos in stored.all()}
    for c in candidates:
        c.id = ids[(c.round_id, c.scenario_id, c.amendment_id, c.position)]


async def enqueue_scenarios(
    s: AsyncSession, r: RoundRow, scenarios: Sequence[tuple[RoundScenarioRow, ScenarioRow]], candidates: Sequence[CandidateRow]
) -> None:
    """Each scenario's post (unless it is out already) and its candidates' posts, in its thread."""
    assert r.id is not None
    by_scenario: dict[int, list[CandidateRow]] = {}
    for c in candidates:
        by_scenario.setdefault(c.scenario_id, []).append(c)
    posts: list[Outgoing] = []
    for rs, sc in scenarios:
        sid = sc.id or 0
        parent = None
        if rs.thread_key is None:
            post = scenario_post(r, rs.position, sid, rs.id or 0, scenario_turns(sc), scenario_title(sc))
            posts.append(Outgoing(scenario_key(r.id, sid), post))
            parent = scenario_key(r.id, sid)
        for c in by_scenario.get(sid, []):
            posts.append(Outgoing(candidate_key(r.id, c.id or 0), candidate_post(r, c, rs.thread_key), parent))
    await enqueue_all(s, posts, community=r.community, round_id=r.id)


def _texts_by_scenario(candidates: Sequence[CandidateRow]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for c in candidates:
        out.setdefault(c.scenario_id, []).append(c.text)
    return out


async def scenarios_without_candidates(svc: Services, round_id: int) -> list[int]:
    async with svc.uow() as uow:
        have = await scenarios_with_candidates(uow.session, round_id)
        ids = [sc.id or 0 for _, sc in await round_scenarios(uow.session, round_id)]
    return [i for i in ids if i not in have]


async def generate_more(svc: Services, round_id: int, moderator: Actor, scenario_ids: Sequence[int], *, why: str) -> None:
    """Candidates for scenarios added to (or failed in) a round that is already open for review."""
    try:
        await _generate_more(svc, round_id, moderator, scenario_ids, why=why)
    except Exception as e:
        log.exception("generating more candidates for round %s failed", round_id)
        listed = ", ".join(f"#{i}" for i in scenario_ids)
        text = (
            f"Round #{round_id} ({why}): generating candidates for scenario(s) {listed} failed with an internal error "
            f"({type(e).__name__}); nothing was added. Retry with: {retry_command(round_id, scenario_ids)}"
        )
        await _tell(svc, moderator, Reply(text, ok=False))


async def _generate_more(svc: Services, round_id: int, moderator: Actor, scenario_ids: Sequence[int], *, why: str) -> None:
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
                candidates += candidate_rows(round_id, sc.id or 0, drafts, await _next_position(s, round_id, sc.id or 0), now)
            s.add_all(candidates)
            await s.flush()
            added = {c.scenario_id for c in candidates}
            await enqueue_scenarios(s, r, [(rs, sc) for rs, sc in ok if sc.id in added], candidates)
            if candidates:
                n_scen = len(await round_scenarios(s, round_id))
                n_cand = await _count_candidates(s, round_id)
                counts = announcement(r, plan.policy.name, plan.version.version, n_scen, n_cand)
                await enqueue_edit(
                    s, f"{announcement_key(round_id)}:{n_cand}", counts, community=r.community, round_id=round_id,
                    of=announcement_key(round_id), message=r.announcement_key,
                )  # fmt: skip
            await uow.commit()
    except PhaseChanged:
        await _tell(
            svc,
            moderator,
            Reply(f"Round #{round_id} left REVIEW while generating ({why}); the new candidates were not added.", ok=False),
        )
        return
    delivery = await deliver_round(svc, round_id, answered=moderator)
    await diversity.record(svc, round_id, _texts_by_scenario(candidates))
    text = f"Round #{round_id} ({why}): {len(candidates)} new candidate(s) for {len(added)} scenario(s)."
    if unavailable is not None:
        text += " " + unreachable_message(unavailable.model, unavailable.detail)
    if failed:
        ids = [sc.id or 0 for sc, _ in failed]
        text += f" Failed again: {_failure_text(failed)}. Retry with: {retry_command(round_id, ids)}"
    await _tell(svc, moderator, with_note(Reply(text, ok=not failed), failure_message_for(delivery, round_id)))


async def _next_position(s: AsyncSession, round_id: int, scenario_id: int) -> int:
    last = (
        await s.exec(
            select(func.max(CandidateRow.position)).where(
                CandidateRow.round_id == round_id,
                CandidateRow.scenario_id == scenario_id,
                col(CandidateRow.amendment_id).is_(None),
            )
        )
    ).one()
    return (last if last is not None else -1) + 1


async def _count_candidates(s: AsyncSession, round_id: int) -> int:
    q = select(func.count()).select_from(CandidateRow)
    return (await s.exec(q.where(CandidateRow.round_id == round_id, col(CandidateRow.amendment_id).is_(None)))).one()


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


async def _cancel_opening(svc: Services, round_id: int, why: str) -> bool:
    """OPENING → CANCELLED; False if the round had left OPENING already."""
    now = svc.now()
    async with svc.uow() as uow:
        done = await uow.session.exec(
            update(RoundRow)
            .where(col(RoundRow.id) == round_id, col(RoundRow.phase) == Phase.OPENING.value)
            .values(phase=Phase.CANCELLED.value, phase_changed_at=now, closed_at=now, phase_ends_at=None, note=why[:2000])
        )
        await uow.commit()
    return bool(done.rowcount == 1)


# ---------------------------------------------------------------- commands and status
