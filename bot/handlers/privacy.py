"""Members' data commands: see what the bot holds, opt out of exports or back in, consent
where the community requires it, give self-described attributes (only with consent), choose whether
what they write is credited to their name, and erase.

Everything is scoped to the member's own community. What erasure removes and what stays is said in
bot.privacy.erasure (and the README's privacy section); /privacy show reads the same records."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.commands import Actor, PrivacyAttributes, PrivacyErase, PrivacyExportChoice, PrivacyName, PrivacyShow
from bot.domain.model import ANONYMOUS_MEMBER
from bot.domain.outputs import Attachment, Field, Outcome, Reply
from bot.errors import CommandError
from bot.export.attributes import AGE_BANDS, ATTRIBUTES, check_attributes, parse_attributes_json
from bot.export.pseudonym import annotator_id
from bot.privacy.erasure import Found, count_rows, credit_posts, erase, find
from bot.privacy.holdings import held
from bot.privacy.naming import MAX_SHOWN_NAME
from bot.services import Services
from storage.tables import CommunityExportSettingsRow, MemberPrivacyRow, RoundRow

K_DEFAULT = 5


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


def _exports_line(opted_out: bool, required: bool, consent: bool) -> str:
    if opted_out:
        return "you are opted out: your data is left out of every export (/privacy optin to take part again)"
    if required and not consent:
        return "this community exports a member's data only with consent, and you have not given it (/privacy consent yes)"
    return "your reactions may appear in research exports under a pseudonymous id (/privacy optout to stop)"


def _summary(f: Found, model: dict[str, int]) -> str:
    """What the bot holds, counted (the attached file has all of it)."""
    reasons = sum(1 for r in f.reactions if r.reason)
    parts = [
        f"{len(f.reactions)} reaction events ({reasons} with a written reason)",
        f"{len(f.ballots)} ballot events",
        f"{len(f.written)} responses you wrote",
        f"{len(f.scenarios)} scenarios you wrote",
        f"{len(f.amendments)} amendments you proposed",
        f"{len(f.drafts)} bot drafts made from your words",
        f"{len(f.answers)} model answers to your words",
        f"{model['cached_answers']} cached model answers and {model['log_lines']} model-call log lines "
        "of requests that carried your words",
    ]
    return ", ".join(parts)


async def privacy_show(cmd: PrivacyShow, svc: Services) -> Outcome:
    actor = cmd.actor
    async with svc.uow() as uow:
        s = uow.session
        found = await find(s, actor.community, actor.member, [actor.display_name])
        document = await held(s, found)
        model = await count_rows(s, found)
        required = await _consent_required(s, actor.community)
    settings = document["settings"]
    attrs = settings["attributes"]
    fields = [
        Field("Exports", _exports_line(settings["export_opt_out"], required, settings["export_consent"])),
        Field("What the bot holds", _summary(found, model)),
        Field(
            "Self-described attributes",
            ", ".join(f"{k}={v}" for k, v in attrs.items()) if attrs else "none (/privacy attributes)",
        ),
        Field(
            "Shown as",
            f"“{settings['shown_name']}” on what you write (/privacy name off)"
            if settings["shown_name"]
            else f"“{ANONYMOUS_MEMBER}” on what you write (/privacy name on shows your display name)",
        ),
    ]
    secret = svc.options.export_secret
    platform = await _platform(svc, actor)
    if secret and platform:
        fields.append(Field("Your id in exports", annotator_id(secret.encode("utf-8"), platform, actor.community, actor.member)))
    document["community_requires_consent"] = required
    data = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    return Outcome(
        Reply(
            "What policybot holds about you in this community (the attached file has all of it, including your words "
            "inside records made from them). Erase it with /privacy erase.",
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


def _erase_summary(f: Found, model: dict[str, int]) -> str:
    own = len(f.own_words)
    return (
        f"{len(f.reactions)} reaction events (with any reasons you wrote), {len(f.ballots)} ballot events, "
        f"the text of {len(f.written)} responses you wrote and of {len(f.scenarios)} scenarios you wrote, "
        f"your name on {len(f.amendments)} amendments and the text and rationale of {own} of them "
        f"({len(f.amendments) - own} adopted into the policy keep their text), "
        f"{len(f.answers)} model answers to your words and the rationale of {len(f.drafts)} bot drafts made from them, "
        f"{model['cached_answers']} cached model answers, the prompts and answers of {model['tries']} /try, "
        "your name wherever a record or post carries it, and your privacy settings"
    )


async def privacy_erase(cmd: PrivacyErase, svc: Services) -> Outcome:
    actor = cmd.actor
    if cmd.confirm:
        # reactions and model-call records received before this command may still be in the group
        # commits: let them land first, or one confirmed a moment ago could be written just after
        await svc.recorder.flush()
        await svc.appender.flush()
    async with svc.uow() as uow:
        s = uow.session
        found = await find(s, actor.community, actor.member, [actor.display_name])
        summary = _erase_summary(found, await count_rows(s, found))
        if not cmd.confirm:
            return Outcome(
                Reply(
                    f"This erases, in this community: {summary}. Vote totals already published stay as totals. "
                    "It cannot be undone, and exports made before are outside the bot's reach. "
                    "To go ahead: /privacy erase confirm"
                )
            )
        done = await erase(s, found, svc.now())
        await uow.commit()
    edited = f" {done.edits} post(s) that showed your words or your name are being edited." if done.edits else ""
    return Outcome(Reply(f"Erased: {summary}. Published vote totals stay as totals.{edited}"))


async def privacy_name(cmd: PrivacyName, svc: Services) -> Outcome:
    actor = cmd.actor
    name = actor.display_name.strip()[:MAX_SHOWN_NAME]
    if cmd.named and not name:
        raise CommandError("The platform gave the bot no display name for you here, so there is none to show; nothing changed.")
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        row = await privacy_row(s, actor, now)
        row.shown_name = name if cmd.named else ""
        row.updated_at = now
        await s.flush()
        found = await find(s, actor.community, actor.member, [actor.display_name])
        edited = await credit_posts(s, found, now, row.shown_name or ANONYMOUS_MEMBER)
        await uow.commit()
    posts = f" {edited} post(s) of yours are being edited to match." if edited else ""
    if cmd.named:
        text = f"What you write (responses, amendments) is now credited to “{name}”.{posts} /privacy name off undoes it."
        return Outcome(Reply(text))
    return Outcome(Reply(f"What you write is now credited to “{ANONYMOUS_MEMBER}”, never to your name or id.{posts}"))
