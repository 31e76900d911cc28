"""Amendments the bot drafts from the evidence when REVIEW closes, and the background work that
follows phase transitions (see `after_transition`, called by bot.rounds.lifecycle.advance after commit).

Evidence, derived from the raw reaction events (bot.domain.preferences.current_stances):
- broadly endorsed candidates (which the current policy may discourage),
- divisive candidates (endorsed and objected to by sizeable shares),
- objected candidates, and members' free-text reasons,
with endorse / object / pass counts overall and by opinion group where `svc.opinion_groups` is set.
The model drafts at most N clause amendments (POLICYBOT_MAX_DRAFTS); each must cite the candidates
it rests on, and is stored with origin "bot" and its evidence (evidence_json) beside members' own."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import MAX_TEXT, AmendmentKind, AmendmentOrigin, AmendmentStatus, ClauseText, Phase, Stance
from bot.domain.outputs import Post
from bot.domain.preferences import ReactionEvent, current_stances
from bot.domain.tally import ANCHOR_START
from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.generation.calls import CallContext, Malformed, Structured, ask_structured, load_json
from bot.generation.prompts import DRAFT_PROMPT_VERSION, draft_prompt
from bot.privacy.marks import scenario_erased
from bot.rounds.outbox import deliver_round, enqueue
from bot.rounds.posts import draft_post
from bot.rounds.queries import clauses_of, policy_of_version, round_candidates, round_scenarios, scenario_title
from bot.services import Services
from storage.tables import AmendmentRow, ReactionEventRow, RoundRow

log = logging.getLogger("policybot.drafting")

BOT_MEMBER = "policybot"
MAX_EVIDENCE = 12  # candidates shown to the model
MAX_REASONS = 5  # reasons per candidate


@dataclass
class CandidateEvidence:
    id: int
    scenario_id: int
    scenario: str
    text: str
    counts: dict[str, int]
    groups: dict[int, dict[str, int]] = field(default_factory=dict)
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (stance, reason)
    authors: set[str] = field(default_factory=set)  # members whose words the evidence carries (privacy)
    signals: list[str] = field(default_factory=list)
    group_aware_consensus: float | None = None  # Π over opinion groups of P(endorse), from bot.analysis

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "scenario_id": self.scenario_id, **self.counts, "signals": self.signals}
        if self.groups:
            out["groups"] = {str(g): c for g, c in sorted(self.groups.items())}
        if self.group_aware_consensus is not None:
            out["group_aware_consensus"] = round(self.group_aware_consensus, 3)
        return out

    def for_prompt(self) -> dict[str, object]:
        out = self.summary()
        out["scenario"] = self.scenario[:800]
        out["response"] = self.text[:1500]
        if self.reasons:
            out["reasons"] = [{"stance": s, "reason": r[:500]} for s, r in self.reasons[:MAX_REASONS]]
        return out


def _zero() -> dict[str, int]:
    return {"endorse": 0, "object": 0, "pass": 0}


def select_evidence(
    candidates: Sequence[tuple[int, int, str, str]],
    events: Sequence[ReactionEvent],
    groups: Mapping[str, int] | None,
) -> list[CandidateEvidence]:
    """Candidates worth drafting from: (id, scenario id, scenario text, response text) → evidence,
    strongest signals first; none without reactions."""
    by_id = {cid: CandidateEvidence(cid, sid, scen, text, _zero()) for cid, sid, scen, text in candidates}
    for (member, cid), stance in current_stances(events).items():
        ev = by_id.get(cid)
        if ev is None:
            continue
        ev.counts[stance.value] += 1
        if groups is not None and member in groups:
            ev.groups.setdefault(groups[member], _zero())[stance.value] += 1
    for cid, stance_value, reason, member in _latest_reasons(events):
        if cid in by_id:
            by_id[cid].reasons.append((stance_value, reason))
            by_id[cid].authors.add(member)
    chosen = [ev for ev in by_id.values() if _signal(ev)]
    chosen.sort(key=lambda x: (-(x.counts["endorse"] + x.counts["object"]), -len(x.reasons), x.id))
    return chosen[:MAX_EVIDENCE]


def _latest_reasons(events: Sequence[ReactionEvent]) -> list[tuple[int, str, str, str]]:
    """(candidate, stance, reason, member) of each member's latest reason per candidate, oldest first."""
    latest: dict[tuple[str, int], tuple[int, str, str]] = {}
    for ev in events:
        key = (ev.member, ev.candidate_id)
        usable = ev.reason.strip() and not ev.removed and ev.stance != Stance.BEST
        if usable and (key not in latest or latest[key][0] < ev.seq):
            latest[key] = (ev.seq, ev.stance.value, ev.reason.strip())
    return [(cid, st, why, m) for (m, cid), (_seq, st, why) in sorted(latest.items(), key=lambda kv: kv[1][0])]


def prompt_authors(evidence: Sequence[CandidateEvidence], wrote: Mapping[int, set[str]]) -> tuple[str, ...]:
    """The members whose words the drafting request carries: reasons, scenarios, written responses."""
    found: set[str] = set()
    for ev in evidence:
        found |= ev.authors | wrote.get(ev.id, set())
    return tuple(sorted(found - {"", BOT_MEMBER}))


def _signal(ev: CandidateEvidence) -> bool:
    """Note what makes a candidate evidence; False when nothing does."""
    n_e, n_o = ev.counts["endorse"], ev.counts["object"]
    if n_e >= 2 and n_e >= 2 * n_o:
        ev.signals.append("broadly endorsed")
    if n_e >= 1 and n_o >= 1 and min(n_e, n_o) / (n_e + n_o) >= 1 / 3:
        ev.signals.append("divisive")
    if n_o >= 2 and n_o > n_e:
        ev.signals.append("objected to")
    if ev.reasons:
        ev.signals.append("has reasons")
    return bool(ev.signals)


@dataclass(frozen=True, slots=True)
class GroupView:
    """What the analysis module (bot.analysis.summary) says about the round's opinion groups."""

    divisive: frozenset[int]  # candidates some group endorses and another objects to
    consensus: frozenset[int]  # candidates endorsed (or objected to) across the board
    group_aware_consensus: Mapping[int, float]
    stands_for: Mapping[int, tuple[tuple[int, str, float], ...]]  # group → (candidate, direction, share)


def annotate(evidence: list[CandidateEvidence], view: GroupView | None) -> None:
    """Add the group-level signals of the analysis to the selected evidence."""
    if view is None:
        return
    for ev in evidence:
        ev.group_aware_consensus = view.group_aware_consensus.get(ev.id)
        if ev.id in view.divisive:
            ev.signals.append("divides opinion groups")
        if ev.id in view.consensus:
            ev.signals.append("consensus across groups")


async def group_view(s: AsyncSession, round_id: int) -> GroupView | None:
    """The round's group summary, or None when no groups were found or the analysis failed (the
    drafter then works from the counts alone)."""
    from bot.analysis.summary import round_summary  # numpy and scikit-learn: loaded only when needed

    try:
        summary = await round_summary(s, round_id)
    except Exception:
        log.warning("round %s: group summary failed; drafting from counts alone", round_id, exc_info=True)
        return None
    if not summary.groups_found:
        return None
    return GroupView(
        divisive=frozenset(summary.divisive),
        consensus=frozenset(c.candidate_id for c in summary.consensus),
        group_aware_consensus=dict(summary.group_aware_consensus),
        stands_for={
            g.group: tuple((c.candidate_id, c.direction, round(c.share, 3)) for c in g.stands_for[:3]) for g in summary.groups
        },
    )


def _groups_data(view: GroupView | None, groups: Mapping[str, int] | None) -> dict[str, object] | None:
    """Opinion groups as evidence: sizes, and what each stands for when the analysis says so."""
    if not groups:
        return None
    sizes: dict[str, int] = {}
    for g in groups.values():
        sizes[str(g)] = sizes.get(str(g), 0) + 1
    out: dict[str, object] = {"sizes": dict(sorted(sizes.items()))}
    if view is not None:
        out["stands_for"] = {
            str(g): [{"candidate": c, "direction": d, "share": sh} for c, d, sh in items] for g, items in view.stands_for.items()
        }
    return out


@dataclass(frozen=True, slots=True)
class Draft:
    kind: AmendmentKind
    clause_key: str | None
    text: str
    rationale: str
    evidence: tuple[int, ...]


DRAFTS_SCHEMA = Structured(
    "drafted_amendments",
    {
        "type": "object",
        "properties": {
            "amendments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string"},
                        "clause": {"type": ["integer", "null"]},
                        "text": {"type": "string"},
                        "rationale": {"type": "string"},
                        "evidence": {"type": "array", "items": {"type": "integer"}},
                    },
                    "required": ["kind", "evidence"],
                },
            }
        },
        "required": ["amendments"],
    },
)


def parse_drafts(text: str, clauses: Sequence[ClauseText], evidence_ids: set[int], limit: int) -> list[Draft]:
    return drafts_from(load_json(text), clauses, evidence_ids, limit)


def drafts_from(data: object, clauses: Sequence[ClauseText], evidence_ids: set[int], limit: int) -> list[Draft]:
    """The usable drafts of an answer (at most `limit`); Malformed when it is not the JSON asked for.
    A draft that names no known candidate, a missing clause, or no text is dropped."""
    items = data.get("amendments") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise Malformed('the answer has no list under "amendments"')
    out: list[Draft] = []
    for item in items:
        draft = _draft_of(item, clauses, evidence_ids) if isinstance(item, dict) else None
        if draft is not None and all((d.kind, d.clause_key, d.text) != (draft.kind, draft.clause_key, draft.text) for d in out):
            out.append(draft)
    return out[:limit]


def _target_key(kind: AmendmentKind, clause: object, clauses: Sequence[ClauseText]) -> tuple[bool, str | None]:
    """(usable, clause key) of a draft's clause number: for ADD, None = at the end, 0 = at the start."""
    if kind == AmendmentKind.ADD and clause is None:
        return True, None
    if kind == AmendmentKind.ADD and clause == 0 and isinstance(clause, int):
        return True, ANCHOR_START
    if isinstance(clause, int) and not isinstance(clause, bool) and 1 <= clause <= len(clauses):
        return True, clauses[clause - 1].key
    return False, None


def _draft_of(item: dict[str, Any], clauses: Sequence[ClauseText], evidence_ids: set[int]) -> Draft | None:
    try:
        kind = AmendmentKind(str(item.get("kind", "")).strip().lower())
    except ValueError:
        return None
    body = str(item.get("text") or "").strip()
    cited = tuple(dict.fromkeys(i for i in item.get("evidence") or [] if isinstance(i, int) and i in evidence_ids))
    usable, key = _target_key(kind, item.get("clause"), clauses)
    if not cited or len(body) > MAX_TEXT or not usable:
        return None
    current = {c.key: c.text for c in clauses}
    if kind == AmendmentKind.REMOVE:
        body = ""
    elif not body or (kind == AmendmentKind.REPLACE and body == current.get(key or "")):
        return None
    return Draft(kind, key, body, str(item.get("rationale") or "").strip()[:2000], cited)


async def draft_amendments(svc: Services, round_id: int) -> list[AmendmentRow]:
    """Draft, store and post the bot's amendments for a round that has just left REVIEW."""
    async with svc.uow() as uow:
        s = uow.session
        r = await s.get(RoundRow, round_id)
        if r is None:
            return []
        policy, version = await policy_of_version(s, r.policy_version_id)
        clauses = await clauses_of(s, r.policy_version_id)
        scenarios = [sc for _, sc in await round_scenarios(s, round_id) if not scenario_erased(sc)]
        scenario_text = {sc.id: scenario_title(sc, limit=800) for sc in scenarios}
        kept = [c for c in await round_candidates(s, round_id) if c.text and c.scenario_id in scenario_text]
        cands = [(c.id or 0, c.scenario_id, scenario_text[c.scenario_id], c.text) for c in kept]
        # privacy: whose words each candidate carries into the prompt (its scenario's, a written response's)
        author_of = {sc.id: sc.created_by for sc in scenarios}
        wrote = {c.id or 0: {author_of[c.scenario_id], c.author_member or ""} for c in kept}
        rows = (await s.exec(select(ReactionEventRow).where(ReactionEventRow.round_id == round_id))).all()
        groups = await svc.opinion_groups(s, round_id) if svc.opinion_groups is not None else None
        view = await group_view(s, round_id) if groups else None
    events = [ReactionEvent(e.id or 0, e.member, e.candidate_id, Stance(e.stance), e.action == "remove", e.reason) for e in rows]
    evidence = select_evidence(cands, events, groups or None)
    annotate(evidence, view)
    if not evidence:
        log.info("round %s: no reactions to draft amendments from", round_id)
        return []
    limit = svc.options.max_drafts
    prompt = draft_prompt(
        policy.name,
        clauses,
        {"candidates": [e.for_prompt() for e in evidence], "opinion_groups": _groups_data(view, groups)},
        limit,
    )
    ids = {e.id for e in evidence}
    try:
        answer = await ask_structured(
            svc,
            prompt,
            DRAFTS_SCHEMA,
            lambda data: drafts_from(data, clauses, ids, limit),
            CallContext(r.community, round_id, "draft", prompt_authors(evidence, wrote)),
        )
    except (GeneratorUnavailable, GeneratorFailed) as e:
        log.warning("round %s: no drafted amendments: %s", round_id, e)
        failed = Post(r.channel, f"Round #{round_id}: the bot could not draft amendments", f"The model failed: {e}")
        async with svc.uow() as uow:
            await enqueue(uow.session, f"round:{round_id}:drafts:failed", failed, community=r.community, round_id=round_id)
            await uow.commit()
        await deliver_round(svc, round_id)
        return []
    by_id = {e.id: e for e in evidence}
    now = svc.now()
    stored: list[AmendmentRow] = []
    numbers = {c.key: c.number for c in clauses}
    async with svc.uow() as uow:
        s = uow.session
        fresh = await s.get(RoundRow, round_id)
        if fresh is None or fresh.phase not in (Phase.REVIEW.value, Phase.AMEND.value):
            log.info("round %s left AMEND while drafting; drafts dropped", round_id)
            return []
        for d in answer.value:
            cited = [by_id[i] for i in d.evidence]
            record = {
                "candidates": [c.summary() for c in cited],
                "reasons": [{"candidate": c.id, "stance": st, "reason": why[:500]} for c in cited for st, why in c.reasons],
                "opinion_groups": _groups_data(view, groups),
                "model": answer.model,
                "prompt_version": DRAFT_PROMPT_VERSION,
                "prompt_hash": answer.prompt_hash,
            }
            a = AmendmentRow(
                community=r.community,
                round_id=round_id,
                kind=d.kind.value,
                clause_key=d.clause_key,
                text=d.text,
                rationale=d.rationale,
                proposed_by=BOT_MEMBER,
                origin=AmendmentOrigin.BOT.value,
                evidence_json=json.dumps(record, ensure_ascii=False),
                status=AmendmentStatus.PROPOSED.value,
                created_at=now,
            )
            s.add(a)
            stored.append(a)
        await s.flush()
        for a in stored:  # the drafts and their posts, in one transaction
            post = draft_post(a, numbers, f"{policy.name} v{version.version}", r.channel)
            await enqueue(s, f"round:{round_id}:amendment:{a.id}", post, community=r.community, round_id=round_id)
        if not stored:
            none = Post(
                r.channel, f"Round #{round_id}: no bot-drafted amendments", "The evidence did not support a clause change."
            )
            await enqueue(s, f"round:{round_id}:drafts:none", none, community=r.community, round_id=round_id)
        await uow.commit()
    await deliver_round(svc, round_id)
    return stored
