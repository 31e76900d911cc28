"""What an export covers: its scope (rounds of ONE community), their policies, scenarios and
candidates with provenance, and who is left out (opt-out, no consent where the community requires it).

Everything here is small (bounded by rounds × scenarios × candidates, and by members); the large part,
reactions, is streamed by bot.export.derive."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import ERASED_AUTHOR, AmendmentOrigin, ClauseText, Turn, aware
from bot.errors import CommandError
from bot.export.attributes import parse_attributes_json
from bot.generation.preview import amended_clauses
from bot.generation.prompts import candidate_system_prompt
from bot.privacy.marks import scenario_erased
from bot.rounds.queries import clauses_of, get_policy, get_round, policy_of_version, scenario_turns
from storage.tables import (
    AmendmentRow,
    CandidateRow,
    CommunityExportSettingsRow,
    MemberPrivacyRow,
    PolicyVersionRow,
    ReactionEventRow,
    RoundRow,
    ScenarioRow,
    TallyRow,
)

DEFAULT_LICENCE = "CC-BY-4.0"


@dataclass(frozen=True, slots=True)
class Scope:
    community: str
    round_id: int | None = None
    policy: str | None = None

    @property
    def kind(self) -> str:
        return "round" if self.round_id is not None else "policy" if self.policy is not None else "community"

    def what(self) -> str:
        """The scope's rounds, to be followed by the community's name."""
        if self.round_id is not None:
            return f"round #{self.round_id}"
        return f"every round of policy '{self.policy}'" if self.policy is not None else "every round"

    def describe(self) -> str:
        if self.round_id is not None:
            return f"round #{self.round_id}"
        if self.policy is not None:
            return f"every round of policy '{self.policy}'"
        return "every round of the community"


@dataclass(frozen=True, slots=True)
class RoundInfo:
    id: int
    platform: str
    phase: str
    policy: str
    version: int
    clause_ids: tuple[str, ...]
    clauses: tuple[ClauseText, ...]
    k: int
    opened_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """The candidates one member compares at once: a scenario of a round, under the policy version
    (amendment 0) or under one amendment (a preview)."""

    index: int
    round_id: int
    scenario_id: int
    amendment_id: int  # 0: the policy version itself
    turns: tuple[Turn, ...]
    candidate_ids: tuple[int, ...]
    system: str  # the policy as the system message a model answers under (amended, for a preview)


@dataclass(frozen=True, slots=True)
class CandidateInfo:
    id: int
    index: int
    group: int
    position: int
    text: str
    author_kind: str
    author_member: str | None
    model: str
    method: str
    temperature: float | None
    prompt_version: str
    prompt_hash: str
    settings_json: str
    created_at: datetime | None

    def sampling(self) -> dict[str, object]:
        try:
            settings = json.loads(self.settings_json or "{}")
        except json.JSONDecodeError:
            settings = {}
        return {
            "author_kind": self.author_kind,
            "model": self.model,
            "method": self.method,
            "temperature": self.temperature,
            "prompt_version": self.prompt_version,
            "prompt_hash": self.prompt_hash,
            "settings": settings,
        }


@dataclass(frozen=True, slots=True)
class AmendmentInfo:
    """An amendment of a round in scope, with what privacy allows of its words: a member's text and
    rationale are withheld when its author is left out of exports or erased their data; a bot draft's
    rationale is withheld when its evidence holds a reason of a member who is left out."""

    id: int
    round_id: int
    kind: str
    clause_key: str | None
    text: str
    rationale: str
    author_kind: str  # "member" or "bot"
    status: str
    withheld: str | None  # why the member's words are left out, or None
    rationale_withheld: str | None


@dataclass
class Privacy:
    licence: str = DEFAULT_LICENCE
    consent_required: bool = False
    opted_out: set[str] = field(default_factory=set)
    consented: set[str] = field(default_factory=set)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)  # only of members who consented to give them
    erased_members: int = 0

    def excluded(self, member: str) -> str | None:
        """Why a member's data stays out of exports, or None."""
        if member in self.opted_out:
            return "opted_out"
        if self.consent_required and member not in self.consented:
            return "no_consent"
        return None


@dataclass
class Context:
    scope: Scope
    platform: str
    rounds: dict[int, RoundInfo]
    groups: list[GroupInfo]
    candidates: dict[int, CandidateInfo]  # only candidates that may be exported
    privacy: Privacy
    withheld_candidates: dict[str, int]  # reason → human candidates left out
    tallies: list[dict[str, object]]
    amendments: dict[int, AmendmentInfo] = field(default_factory=dict)

    @property
    def round_ids(self) -> list[int]:
        return sorted(self.rounds)

    def group_of(self) -> dict[int, int]:
        return {c.id: c.group for c in self.candidates.values()}


async def scope_rounds(s: AsyncSession, scope: Scope) -> list[RoundRow]:
    """The rounds of the scope, all of scope.community; anything of another community is 'not found'."""
    if scope.round_id is not None:
        return [await get_round(s, scope.community, scope.round_id)]
    q = select(RoundRow).where(col(RoundRow.community) == scope.community)
    if scope.policy is not None:
        policy = await get_policy(s, scope.community, scope.policy)
        q = q.where(
            col(RoundRow.policy_version_id).in_(select(PolicyVersionRow.id).where(PolicyVersionRow.policy_id == policy.id))
        )
    rows = list((await s.exec(q.order_by(col(RoundRow.id)))).all())
    if not rows:
        raise CommandError(f"There is nothing to export: no round in {scope.describe()}.")
    return rows


async def load_privacy(s: AsyncSession, community: str) -> Privacy:
    settings = await s.get(CommunityExportSettingsRow, community)
    p = Privacy(
        licence=settings.licence if settings else DEFAULT_LICENCE,
        consent_required=settings.consent_required if settings else False,
    )
    rows = (await s.exec(select(MemberPrivacyRow).where(col(MemberPrivacyRow.community) == community))).all()
    for r in rows:
        if r.export_opt_out:
            p.opted_out.add(r.member)
        if r.export_consent:
            p.consented.add(r.member)
        if r.attributes_consent:
            attrs = parse_attributes_json(r.attributes_json)
            if attrs:
                p.attributes[r.member] = attrs
        if r.erased_at is not None:
            p.erased_members += 1
    return p


async def _round_infos(s: AsyncSession, rounds: list[RoundRow]) -> dict[int, RoundInfo]:
    infos: dict[int, RoundInfo] = {}
    for r in rounds:
        assert r.id is not None
        policy, version = await policy_of_version(s, r.policy_version_id)
        clauses = await clauses_of(s, r.policy_version_id)
        infos[r.id] = RoundInfo(
            id=r.id,
            platform=r.platform,
            phase=r.phase,
            policy=policy.name,
            version=version.version,
            clause_ids=tuple(c.key for c in clauses),
            clauses=tuple(clauses),
            k=r.k,
            opened_at=aware(r.opened_at),
            closed_at=aware(r.closed_at),
        )
    return infos


def _candidate_info(c: CandidateRow, index: int, group: int) -> CandidateInfo:
    assert c.id is not None
    return CandidateInfo(
        id=c.id,
        index=index,
        group=group,
        position=c.position,
        text=c.text,
        author_kind=c.author_kind,
        author_member=c.author_member,
        model=c.model,
        method=c.method,
        temperature=c.temperature,
        prompt_version=c.prompt_version,
        prompt_hash=c.prompt_hash,
        settings_json=c.settings_json,
        created_at=aware(c.created_at),
    )


def _withheld(c: CandidateRow, privacy: Privacy, erased_scenarios: set[int]) -> str | None:
    """Why a candidate stays out of exports: a member-written one whose author is left out or erased
    it; any candidate of a scenario whose author erased it, or a model answer erased with the
    scenario or amendment it answered ("source_erased")."""
    if c.scenario_id in erased_scenarios or (c.author_kind != "human" and not c.text.strip()):
        return "source_erased"
    if c.author_kind != "human":
        return None
    if not c.text.strip() or c.author_member is None:
        return "erased"
    return privacy.excluded(c.author_member)


class _Groups:
    """Candidates grouped by (round, scenario, amendment), each group with its policy system message."""

    def __init__(
        self, infos: dict[int, RoundInfo], scenarios: dict[int | None, tuple[Turn, ...]], amendments: dict[int, AmendmentRow]
    ):
        self.infos = infos
        self.scenarios = scenarios
        self.amendments = amendments
        self.groups: list[GroupInfo] = []
        self.index: dict[tuple[int, int, int], int] = {}
        self.members: dict[int, list[int]] = {}

    def system(self, round_id: int, amendment_id: int) -> str:
        r = self.infos[round_id]
        clauses = list(r.clauses)
        a = self.amendments.get(amendment_id)
        return candidate_system_prompt(r.policy, amended_clauses(clauses, a) if a is not None else clauses)

    def add(self, c: CandidateRow) -> int:
        assert c.id is not None
        key = (c.round_id, c.scenario_id, c.amendment_id or 0)
        g = self.index.get(key)
        if g is None:
            g = self.index[key] = len(self.groups)
            turns = self.scenarios[c.scenario_id]
            self.groups.append(GroupInfo(g, c.round_id, c.scenario_id, key[2], turns, (), self.system(c.round_id, key[2])))
        self.members.setdefault(g, []).append(c.id)
        return g

    def done(self) -> list[GroupInfo]:
        return [
            GroupInfo(g.index, g.round_id, g.scenario_id, g.amendment_id, g.turns, tuple(self.members[g.index]), g.system)
            for g in self.groups
        ]


async def _excluded_reasons(s: AsyncSession, community: str, round_ids: list[int], privacy: Privacy) -> set[str]:
    """Reasons written by members who are left out of exports, as a bot draft's evidence quotes them."""
    R = ReactionEventRow
    rows = (
        await s.exec(
            select(R.member, R.reason).where(col(R.community) == community, col(R.round_id).in_(round_ids), col(R.reason) != "")
        )
    ).all()
    return {reason.strip()[:500] for member, reason in rows if privacy.excluded(member) is not None}


def _evidence_reasons(evidence_json: str) -> set[str]:
    """The reasons a bot draft's evidence quotes: under "reasons" (as bot.generation.drafting stores
    them), or inside each candidate (as older drafts did)."""
    try:
        record = json.loads(evidence_json or "{}")
    except json.JSONDecodeError:
        return set()
    if not isinstance(record, dict):
        return set()
    quoted: list[object] = list(record.get("reasons") or [])
    for c in record.get("candidates", []):
        quoted += c.get("reasons", []) if isinstance(c, dict) else []
    return {r["reason"].strip() for r in quoted if isinstance(r, dict) and isinstance(r.get("reason"), str)}


def _amendment_info(a: AmendmentRow, privacy: Privacy, excluded_reasons: set[str]) -> AmendmentInfo:
    assert a.id is not None
    withheld: str | None = None
    rationale_withheld: str | None = None
    if a.origin == AmendmentOrigin.BOT.value:
        if _evidence_reasons(a.evidence_json) & excluded_reasons:
            rationale_withheld = "quotes_excluded_member"
    else:
        withheld = "erased" if a.proposed_by == ERASED_AUTHOR else privacy.excluded(a.proposed_by)
        rationale_withheld = withheld
    return AmendmentInfo(
        id=a.id,
        round_id=a.round_id,
        kind=a.kind,
        clause_key=a.clause_key,
        text="" if withheld else a.text,
        rationale="" if rationale_withheld else a.rationale,
        author_kind=AmendmentOrigin.BOT.value if a.origin == AmendmentOrigin.BOT.value else AmendmentOrigin.MEMBER.value,
        status=a.status,
        withheld=withheld,
        rationale_withheld=rationale_withheld,
    )


async def _tallies(s: AsyncSession, round_ids: list[int]) -> list[dict[str, object]]:
    rows = (
        await s.exec(select(TallyRow).where(col(TallyRow.round_id).in_(round_ids)).order_by(col(TallyRow.amendment_id)))
    ).all()
    return [
        {
            "round_id": t.round_id,
            "amendment_id": t.amendment_id,
            "yes": t.yes,
            "no": t.no,
            "abstain": t.abstain,
            "passed": t.passed,
            "adopted": t.adopted,
            "reason": t.reason,
        }
        for t in rows
    ]


async def load_context(s: AsyncSession, scope: Scope) -> Context:
    rounds = await scope_rounds(s, scope)
    privacy = await load_privacy(s, scope.community)
    infos = await _round_infos(s, rounds)
    platforms = {i.platform for i in infos.values()}
    if len(platforms) != 1:  # one community lives on one platform
        raise CommandError(f"The rounds of this scope come from several platforms ({', '.join(sorted(platforms))}).")
    round_ids = sorted(infos)
    cand_rows = (
        await s.exec(
            select(CandidateRow)
            .where(col(CandidateRow.round_id).in_(round_ids))
            .order_by(
                col(CandidateRow.round_id),
                col(CandidateRow.scenario_id),
                col(CandidateRow.amendment_id),
                col(CandidateRow.position),
            )
        )
    ).all()
    scenario_ids = sorted({c.scenario_id for c in cand_rows})
    scenario_rows = (await s.exec(select(ScenarioRow).where(col(ScenarioRow.id).in_(scenario_ids)))).all()
    scenarios = {sc.id: scenario_turns(sc) for sc in scenario_rows}
    erased_scenarios = {sc.id or 0 for sc in scenario_rows if scenario_erased(sc)}
    amendment_rows = {
        a.id or 0: a
        for a in (
            await s.exec(
                select(AmendmentRow)
                .where(col(AmendmentRow.community) == scope.community, col(AmendmentRow.round_id).in_(round_ids))
                .order_by(col(AmendmentRow.id))
            )
        ).all()
    }
    grouping = _Groups(infos, scenarios, amendment_rows)
    candidates: dict[int, CandidateInfo] = {}
    withheld: dict[str, int] = {}
    for c in cand_rows:
        why = _withheld(c, privacy, erased_scenarios)
        if why is not None:
            withheld[why] = withheld.get(why, 0) + 1
            continue
        g = grouping.add(c)
        info = _candidate_info(c, len(candidates), g)
        candidates[info.id] = info
    excluded_reasons = await _excluded_reasons(s, scope.community, round_ids, privacy) if amendment_rows else set()
    amendments = {aid: _amendment_info(a, privacy, excluded_reasons) for aid, a in amendment_rows.items()}
    tallies = await _tallies(s, round_ids)
    return Context(scope, platforms.pop(), infos, grouping.done(), candidates, privacy, withheld, tallies, amendments)


async def scope_members(s: AsyncSession, ctx: Context) -> dict[str, int]:
    """Every member with a reaction event in the scope → how many events (before exclusions)."""
    q = (
        select(ReactionEventRow.member, func.count())
        .where(col(ReactionEventRow.community) == ctx.scope.community, col(ReactionEventRow.round_id).in_(ctx.round_ids))
        .group_by(ReactionEventRow.member)
    )
    return {m: int(n) for m, n in (await s.exec(q)).all()}
