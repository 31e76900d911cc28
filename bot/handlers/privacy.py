"""Members' data commands: see what the bot holds, opt out of exports or back in, consent
where the community requires it, give self-described attributes (only with consent), and erase.

Everything is scoped to the member's own community. Erasure deletes the member's reaction and ballot
events (with their free-text reasons), blanks the text of responses they wrote, and removes their name
and rationale from their amendments; published vote totals stay as they were announced."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analysis.state import forget_member
from bot.domain.commands import Actor, PrivacyAttributes, PrivacyErase, PrivacyExportChoice, PrivacyShow
from bot.domain.model import ERASED_AUTHOR, aware
from bot.domain.outputs import Attachment, Field, Outcome, Post, Reply
from bot.errors import CommandError
from bot.export.attributes import AGE_BANDS, ATTRIBUTES, check_attributes, parse_attributes_json
from bot.export.pseudonym import annotator_id
from bot.handlers.try_prompt import count_tries, erase_tries, held_tries
from bot.rounds.outbox import candidate_key, enqueue_edit
from bot.rounds.posts import label
from bot.services import Services
from storage.tables import (
    AmendmentRow,
    BallotEventRow,
    CandidateRow,
    CommunityExportSettingsRow,
    ErasureCountRow,
    HandledRequestRow,
    MemberPrivacyRow,
    ReactionEventRow,
    RoundRow,
)

K_DEFAULT = 5


async def record_erased_counts(s: AsyncSession, community: str, member: str) -> None:
    """Per round, how many reaction and ballot events the erasure deletes (counts only), so exports
    can still say how many were sent."""
    R, B = ReactionEventRow, BallotEventRow
    counts: dict[int, list[int]] = {}
    reactions = select(R.round_id, func.count()).where(col(R.community) == community, col(R.member) == member)
    for round_id, n in (await s.exec(reactions.group_by(col(R.round_id)))).all():
        counts.setdefault(round_id, [0, 0])[0] = int(n)
    ballots = select(B.round_id, func.count()).where(col(B.community) == community, col(B.member) == member)
    for round_id, n in (await s.exec(ballots.group_by(col(B.round_id)))).all():
        counts.setdefault(round_id, [0, 0])[1] = int(n)
    s.add_all(
        [ErasureCountRow(community=community, round_id=r, reaction_events=a, ballot_events=b) for r, (a, b) in counts.items()]
    )


async def privacy_row(s: AsyncSession, actor: Actor, now: datetime) -> MemberPrivacyRow:
    row = (
        await s.exec(
            select(MemberPrivacyRow).where(MemberPrivacyRow.community == actor.community, MemberPrivacyRow.member == actor.member)
        )
    ).first()
    if row is None:
        row = MemberPrivacyRow(community=actor.community, member=actor.member, updated_at=now)
        s.add(row)
    return row


async def _consent_required(s: AsyncSession, community: str) -> bool:
    settings = await s.get(CommunityExportSettingsRow, community)
    return bool(settings and settings.consent_required)


def _iso(moment: datetime | None) -> str:
    m = aware(moment)
    return m.isoformat() if m else ""


async def _held(s: AsyncSession, actor: Actor) -> dict[str, list[dict[str, object]]]:
    """Everything the bot holds about the member in this community, as plain data."""
    community, member = actor.community, actor.member
    reactions = (
        await s.exec(
            select(ReactionEventRow)
            .where(ReactionEventRow.community == community, ReactionEventRow.member == member)
            .order_by(col(ReactionEventRow.id))
        )
    ).all()
    ballots = (
        await s.exec(
            select(BallotEventRow)
            .where(BallotEventRow.community == community, BallotEventRow.member == member)
            .order_by(col(BallotEventRow.id))
        )
    ).all()
    rounds = select(RoundRow.id).where(RoundRow.community == community)
    written = (
        await s.exec(
            select(CandidateRow)
            .where(col(CandidateRow.round_id).in_(rounds), CandidateRow.author_member == member)
            .order_by(col(CandidateRow.id))
        )
    ).all()
    amendments = (
        await s.exec(
            select(AmendmentRow)
            .where(AmendmentRow.community == community, AmendmentRow.proposed_by == member)
            .order_by(col(AmendmentRow.id))
        )
    ).all()
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
            for r in reactions
        ],
        "ballots": [
            {"at": _iso(b.at), "round_id": b.round_id, "amendment_id": b.amendment_id, "choice": b.choice} for b in ballots
        ],
        "responses_written": [
            {"candidate_id": c.id, "round_id": c.round_id, "scenario_id": c.scenario_id, "text": c.text} for c in written
        ],
        "amendments_proposed": [
            {"amendment_id": a.id, "round_id": a.round_id, "kind": a.kind, "text": a.text, "rationale": a.rationale}
            for a in amendments
        ],
        "tries": await held_tries(s, community, member),  # /try: the member's private tries
    }


async def privacy_show(cmd: PrivacyShow, svc: Services) -> Outcome:
    actor = cmd.actor
    async with svc.uow() as uow:
        s = uow.session
        held = await _held(s, actor)
        row = (
            await s.exec(
                select(MemberPrivacyRow).where(
                    MemberPrivacyRow.community == actor.community, MemberPrivacyRow.member == actor.member
                )
            )
        ).first()
        required = await _consent_required(s, actor.community)
    opted_out = bool(row and row.export_opt_out)
    consent = bool(row and row.export_consent)
    attrs = parse_attributes_json(row.attributes_json) if row and row.attributes_consent else {}
    reactions = held["reactions"]
    reasons = sum(1 for r in reactions if r["reason"])
    if opted_out:
        exports = "you are opted out: your data is left out of every export (/privacy optin to take part again)"
    elif required and not consent:
        exports = "this community exports a member's data only with consent, and you have not given it (/privacy consent yes)"
    else:
        exports = "your reactions may appear in research exports under a pseudonymous id (/privacy optout to stop)"
    fields = [
        Field("Exports", exports),
        Field(
            "What the bot holds",
            f"{len(reactions)} reaction events ({reasons} with a written reason), {len(held['ballots'])} ballot events, "
            f"{len(held['responses_written'])} responses you wrote, {len(held['amendments_proposed'])} amendments you proposed",
        ),
        Field(
            "Self-described attributes",
            ", ".join(f"{k}={v}" for k, v in attrs.items()) if attrs else "none (/privacy attributes)",
        ),
    ]
    if row is not None and row.erased_at is not None:
        fields.append(Field("Erased", f"you erased your data on {_iso(row.erased_at)[:10]}"))
    secret = svc.options.export_secret
    platform = await _platform(svc, actor)
    if secret and platform:
        fields.append(Field("Your id in exports", annotator_id(secret.encode("utf-8"), platform, actor.community, actor.member)))
    document = {
        "community": actor.community,
        "member": actor.member,
        "export_opt_out": opted_out,
        "export_consent": consent,
        "community_requires_consent": required,
        "attributes": attrs,
        **held,
    }
    data = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    return Outcome(
        Reply(
            "What policybot holds about you in this community (the attached file has all of it). Erase it with /privacy erase.",
            fields=tuple(fields),
            attachment=Attachment("my-policybot-data.json", data, "application/json"),
        )
    )


async def _platform(svc: Services, actor: Actor) -> str:
    """The platform id used in annotator ids: the community's rounds' platform (as exports use)."""
    async with svc.uow() as uow:
        found = (await uow.session.exec(select(RoundRow.platform).where(RoundRow.community == actor.community).limit(1))).first()
    return found or actor.platform


async def privacy_export_choice(cmd: PrivacyExportChoice, svc: Services) -> Outcome:
    if (cmd.opt_out is None) == (cmd.consent is None):
        raise CommandError("Choose one: /privacy optout, /privacy optin, /privacy consent yes or /privacy consent no.")
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        row = await privacy_row(s, cmd.actor, now)
        if cmd.opt_out is not None:
            row.export_opt_out = cmd.opt_out
        if cmd.consent is not None:
            row.export_consent = cmd.consent
        row.updated_at = now
        required = await _consent_required(s, cmd.actor.community)
        await uow.commit()
    if cmd.opt_out:
        text = "You are opted out: your data will be left out of every export from now on (exports made before stay as they are)."
    elif cmd.opt_out is False:
        text = "You are opted back in: later exports may include your reactions under a pseudonymous id."
        if required and not row.export_consent:
            text += " This community also asks for your consent first: /privacy consent yes."
    elif cmd.consent:
        text = "Thank you: you consent to your reactions appearing in research exports under a pseudonymous id."
        if row.export_opt_out:
            text += " You are still opted out, though; /privacy optin to take part."
    else:
        text = "Consent withdrawn." + (
            " This community exports only with consent, so your data is left out of later exports."
            if required
            else " (This community does not require consent; /privacy optout leaves your data out of exports.)"
        )
    return Outcome(Reply(text))


async def privacy_attributes(cmd: PrivacyAttributes, svc: Services) -> Outcome:
    now = svc.now()
    if cmd.clear:
        if cmd.attributes:
            raise CommandError("Use /privacy attributes clear on its own.")
        async with svc.uow() as uow:
            row = await privacy_row(uow.session, cmd.actor, now)
            row.attributes_json = "{}"
            row.attributes_consent = False
            row.updated_at = now
            await uow.commit()
        return Outcome(Reply("Your self-described attributes are removed, and your consent to them withdrawn."))
    if not cmd.attributes:
        known = "\n".join(f"• {k}: {v}" for k, v in ATTRIBUTES.items())
        return Outcome(
            Reply(
                "Optional, and only with your consent: you may describe yourself, so researchers can see whether "
                "groups of people judge the model differently. Exports show these only in aggregate: a value shared "
                f"by fewer than {K_DEFAULT} exported members is suppressed.\n{known}\n"
                f"To agree and record them: /privacy attributes agree country=FR age={AGE_BANDS[2]}\n"
                "To remove them: /privacy attributes clear"
            )
        )
    if not cmd.agree:
        raise CommandError(
            "Attributes are recorded only with your consent: add 'agree' to say you agree to their aggregate use in "
            "research exports, e.g. /privacy attributes agree country=FR. Nothing was stored."
        )
    given = check_attributes(cmd.attributes)
    async with svc.uow() as uow:
        row = await privacy_row(uow.session, cmd.actor, now)
        merged = {**(parse_attributes_json(row.attributes_json) if row.attributes_consent else {}), **given}
        row.attributes_json = json.dumps(merged, sort_keys=True)
        row.attributes_consent = True
        row.updated_at = now
        await uow.commit()
    shown = ", ".join(f"{k}={v}" for k, v in merged.items())
    return Outcome(Reply(f"Recorded with your consent: {shown}. Remove them any time with /privacy attributes clear."))


async def privacy_erase(cmd: PrivacyErase, svc: Services) -> Outcome:
    actor = cmd.actor
    now = svc.now()
    community, member = actor.community, actor.member
    rounds = select(RoundRow.id).where(RoundRow.community == community)
    if cmd.confirm:
        # reactions received before this command may still be in the group commit: let them land
        # first, or one confirmed a moment ago could be written just after the erasure
        await svc.recorder.flush()
    async with svc.uow() as uow:
        s = uow.session
        n_reactions = (
            await s.exec(select(func.count()).where(ReactionEventRow.community == community, ReactionEventRow.member == member))
        ).one()
        n_ballots = (
            await s.exec(select(func.count()).where(BallotEventRow.community == community, BallotEventRow.member == member))
        ).one()
        written = (
            await s.exec(
                select(CandidateRow, RoundRow).where(
                    col(CandidateRow.round_id).in_(rounds),
                    CandidateRow.author_member == member,
                    CandidateRow.round_id == RoundRow.id,
                )
            )
        ).all()
        n_amend = (
            await s.exec(select(func.count()).where(AmendmentRow.community == community, AmendmentRow.proposed_by == member))
        ).one()
        n_tries = await count_tries(s, community, member)  # /try
        summary = (
            f"{n_reactions} reaction events (with any reasons you wrote), {n_ballots} ballot events, "
            f"the text of {len(written)} responses you wrote, your name and rationale on {n_amend} amendments, "
            f"and the prompts and answers of {n_tries} /try"
        )
        if not cmd.confirm:
            return Outcome(
                Reply(
                    f"This erases, in this community: {summary}. Vote totals already published stay as totals. "
                    "It cannot be undone, and exports made before are outside the bot's reach. "
                    "To go ahead: /privacy erase confirm"
                )
            )
        await record_erased_counts(s, community, member)
        await s.exec(
            delete(ReactionEventRow).where(col(ReactionEventRow.community) == community, col(ReactionEventRow.member) == member)
        )
        await s.exec(
            delete(BallotEventRow).where(col(BallotEventRow.community) == community, col(BallotEventRow.member) == member)
        )
        await erase_tries(s, community, member)  # /try: prompts and answers blanked, their cached answers dropped
        # delivery: the answers kept for replayed requests may quote them too
        await s.exec(
            delete(HandledRequestRow).where(
                col(HandledRequestRow.community) == community, col(HandledRequestRow.member) == member
            )
        )
        edits: list[tuple[str, Post]] = []
        for c, r in written:
            c.text = ""
            c.author_member = None
            s.add(c)
            erased = Post(
                channel=r.channel, title=f"Candidate {label(c.position)} (#{c.id}) · erased", text="(erased by its author)"
            )
            if c.message_key:
                edits.append((c.message_key, erased))
            else:  # not posted yet: the pending post in the outbox is replaced, so the text never goes out
                await enqueue_edit(
                    s,
                    f"{candidate_key(r.id or 0, c.id or 0)}:erased",
                    erased,
                    community=community,
                    of=candidate_key(r.id or 0, c.id or 0),
                )
        await s.exec(
            update(AmendmentRow)
            .where(col(AmendmentRow.community) == community, col(AmendmentRow.proposed_by) == member)
            .values(proposed_by=ERASED_AUTHOR, rationale="")
        )
        await forget_member(s, community, member)  # the opinion groups' stored states
        row = await privacy_row(s, actor, now)
        row.attributes_json = "{}"
        row.attributes_consent = False
        row.erased_at = now
        row.updated_at = now
        await uow.commit()
    return Outcome(Reply(f"Erased: {summary}. Published vote totals stay as totals."), edits=tuple(edits))
