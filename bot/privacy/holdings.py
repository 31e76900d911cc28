"""What /privacy show lists: everything the bot holds about a member in one community, read the way
erasure reads it (bot.privacy.erasure.find), including her words inside derived records (a bot
draft's evidence, the model's answers to her scenario, a changelog quoting her amendment, requests
to the model that carried her words)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import aware
from bot.domain.turns import turns_from_json
from bot.export.attributes import parse_attributes_json
from bot.privacy.erasure import Found, count_rows, quoted_reasons
from bot.rounds.queries import scenario_turns
from storage.tables import (
    CommunityExportSettingsRow,
    CommunityModeratorGroupRow,
    DiscordGuildSettingsRow,
    OutboxRow,
    PolicyRow,
    PolicyVersionRow,
    ReminderOptOutRow,
    StressCaseRow,
    TryRow,
)


def _iso(moment: datetime | None) -> str:
    m = aware(moment)
    return m.isoformat() if m else ""


def _own(f: Found) -> dict[str, list[dict[str, object]]]:
    """What she wrote or did herself."""
    return {
        "reactions": [
            {
                "at": _iso(r.at),
                "round_id": r.round_id,
                "candidate_id": r.candidate_id,
                "stance": r.stance,
                "action": r.action,
                "reason": r.reason,
            }
            for r in f.reactions
        ],
        "ballots": [
            {"at": _iso(b.at), "round_id": b.round_id, "amendment_id": b.amendment_id, "choice": b.choice} for b in f.ballots
        ],
        "responses_written": [
            {"candidate_id": c.id, "round_id": c.round_id, "scenario_id": c.scenario_id, "text": c.text} for c in f.written
        ],
        "scenarios_written": [
            {"scenario_id": sc.id, "title": sc.title, "turns": [[t.role, t.content] for t in scenario_turns(sc)]}
            for sc in f.scenarios
        ],
        "scenarios_from_stress_cases_you_accepted": [{"scenario_id": sc.id} for sc in f.accepted],
        "amendments_proposed": [
            {
                "amendment_id": a.id,
                "round_id": a.round_id,
                "kind": a.kind,
                "text": a.text,
                "rationale": a.rationale,
                "status": a.status,
            }
            for a in f.amendments
        ],
    }


def _derived(f: Found) -> dict[str, list[dict[str, object]]]:
    """Her words inside records the bot made from them."""
    return {
        "bot_drafts_from_your_words": [
            {
                "amendment_id": a.id,
                "round_id": a.round_id,
                "your_reasons_in_its_evidence": [r.get("reason") for r in quoted_reasons(a, f)],
                "text": a.text,
                "rationale": a.rationale,
            }
            for a in f.drafts
        ],
        "model_answers_to_your_words": [
            {"candidate_id": c.id, "round_id": c.round_id, "scenario_id": c.scenario_id, "amendment_id": c.amendment_id}
            | {"text": c.text}
            for c in f.answers
        ],
    }


async def _records_naming(s: AsyncSession, f: Found) -> dict[str, Any]:
    """Records that carry her id or quote her: rounds she opened, stress cases, policies, settings."""
    S = StressCaseRow
    cases = (await s.exec(select(S).where(S.community == f.community).order_by(col(S.id)))).all()
    policies = (await s.exec(select(PolicyRow).where(PolicyRow.community == f.community))).all()
    versions = (await s.exec(select(PolicyVersionRow).where(col(PolicyVersionRow.policy_id).in_([p.id for p in policies])))).all()
    names = {p.id: p.name for p in policies}
    settings = await s.get(CommunityExportSettingsRow, f.community)
    guild = await s.get(DiscordGuildSettingsRow, f.community)
    group = await s.get(CommunityModeratorGroupRow, f.community)
    changed = [x for x in (settings, guild, group) if x is not None and x.updated_by == f.member]
    pending = (
        await s.exec(select(OutboxRow.content).where(OutboxRow.community == f.community, col(OutboxRow.delivered_at).is_(None)))
    ).all()
    return {
        "rounds_you_opened": [r.id for r in f.rounds.values() if r.opened_by == f.member],
        "stress_cases_you_asked_for": [c.id for c in cases if c.proposed_by == f.member],
        "stress_cases_you_accepted": [c.id for c in cases if c.accepted_by == f.member],
        "policies_you_created": [p.name for p in policies if p.created_by == f.member],
        "policy_versions_you_created": [f"{names[v.policy_id]} v{v.version}" for v in versions if v.created_by == f.member],
        "changelogs_quoting_you": [
            {"policy": names[v.policy_id], "version": v.version, "changelog": v.changelog}
            for v in versions
            if f.quotes.found(v.changelog)
        ],
        "settings_you_changed": [type(x).__tablename__ for x in changed],
        "notes_quoting_you": [{"round_id": r.id, "note": r.note} for r in f.rounds.values() if f.quotes.found(r.note)],
        "posts_not_yet_out_quoting_you": sum(1 for c in pending if f.quotes.found(c)),
    }


async def held(s: AsyncSession, f: Found) -> dict[str, Any]:
    """The whole document /privacy show attaches."""
    p = f.privacy
    opted_out = (
        await s.exec(
            select(ReminderOptOutRow.id).where(ReminderOptOutRow.community == f.community, ReminderOptOutRow.member == f.member)
        )
    ).first()
    return {
        "community": f.community,
        "member": f.member,
        "settings": {
            "export_opt_out": bool(p and p.export_opt_out),
            "export_consent": bool(p and p.export_consent),
            "attributes": parse_attributes_json(p.attributes_json) if p and p.attributes_consent else {},
            "shown_name": p.shown_name if p else "",
            "direct_message_reminders": "off" if opted_out is not None else "on",
        },
        **_own(f),
        **_derived(f),
        **await _records_naming(s, f),
        "tries": await held_tries(s, f.community, f.member),  # /try: her private prompts and their answers
        "model_requests_with_your_words": await count_rows(s, f),
    }


async def held_tries(s: AsyncSession, community: str, member: str) -> list[dict[str, object]]:
    """The member's tries, for /privacy show."""
    rows = (
        await s.exec(select(TryRow).where(TryRow.community == community, TryRow.member == member).order_by(col(TryRow.id)))
    ).all()
    return [
        {
            "try_id": t.id,
            "at": (aware(t.at) or t.at).isoformat(),
            "prompt": [{"role": x.role, "content": x.content} for x in turns_from_json(t.turns_json)],
            "answer": t.answer,
            "scenario_id": t.scenario_id,
        }
        for t in rows
    ]
