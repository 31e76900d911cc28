"""Erasure: `/privacy erase confirm` removes or anonymises one member's data in one community,
wherever the bot keeps it, in one transaction, with the posts that show it edited through the outbox.

What is removed, and what stays (the README's privacy section says the same to members):
- her reaction and ballot events (reasons included) are deleted; how many, per round, is kept as a
  count (exports reconcile with it); published vote totals stay as they were announced;
- her written responses lose their text and author; the model's answers to her scenarios, and the
  previews of her amendments, lose their text (the model wrote them from her words);
- her scenarios keep their id (rounds used them) but hold a placeholder instead of her words;
- her amendments lose their author and rationale, and their text unless the community adopted them
  into a published policy version (that text is the community's policy now); one still on the ballot
  is withdrawn;
- a bot draft made from her words loses its rationale, her reasons leave its evidence, and any quote
  of her words in its text becomes "[erased]"; a changelog or note quoting her is redacted the same way;
- the answers the model gave to requests that carried her words leave the cache, and the log lines of
  those requests lose their prompt hash and detail (their cost and timing stay);
- her platform id leaves every record that names her (author, opener, accepter, settings she changed),
  replaced by "[erased]"; her privacy settings, attributes, chosen name and reminder setting are
  deleted; every answer kept for a replayed request is emptied (her requests stay claimed, without her
  id, so a late replay still acts once); the opinion groups' stored state forgets her;
- every post that showed her words or her name is edited (a post not yet delivered is changed before it
  goes out); an edit that fails stays in the outbox and is delivered at the next start-up.

`find` reads what she holds (also for /privacy show); `erase` applies one step per table listed in
bot.privacy.registry as holding member data (STEPS; a test checks the two agree)."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.analysis.state import forget_member
from bot.domain.model import ANONYMOUS_MEMBER, ERASED_AUTHOR, AmendmentOrigin, AmendmentStatus, Phase
from bot.domain.outputs import Field, Post, post_from_json, post_to_json
from bot.generation.precedent_checks import ballot_now, stored_checks, version_post, version_round
from bot.generation.preview import before_after_post
from bot.privacy.marks import ERASED_SCENARIO, scenario_erased
from bot.privacy.naming import shown_names
from bot.rounds.outbox import POST, RESULTS, candidate_key, enqueue_edit, scenario_key
from bot.rounds.posts import (
    candidate_post,
    describe_amendment,
    draft_post,
    proposal_post,
    results_post,
    scenario_post,
    tally_line,
)
from bot.rounds.queries import clauses_of, policy_of_version, scenario_title, scenario_turns
from storage import scope as command_scope
from storage.tables import (
    AmendmentRow,
    BallotEventRow,
    CandidateRow,
    CommunityExportSettingsRow,
    CommunityModeratorGroupRow,
    DiscordGuildSettingsRow,
    ErasureCountRow,
    HandledRequestRow,
    LLMCacheRow,
    LLMCallRow,
    MemberPrivacyRow,
    OutboxRow,
    PolicyRow,
    PolicyVersionRow,
    PrecedentCheckRow,
    PrecedentRow,
    PromptAuthorRow,
    ReactionEventRow,
    ReminderOptOutRow,
    RoundRow,
    RoundScenarioRow,
    ScenarioRow,
    StressCaseRow,
    TallyRow,
    TryRow,
    slack_installations,
)

REDACTED = "[erased]"
MIN_QUOTE = 8  # characters: a shorter text of hers is not looked for inside other text (anyone may write it)


class Quotes:
    """Her words and names, found inside other text: texts verbatim (at least MIN_QUOTE characters),
    names and her platform id as whole words, in any case."""

    def __init__(self, texts: Iterable[str], names: Iterable[str]) -> None:
        parts = sorted({t.strip() for t in texts if len(t.strip()) >= MIN_QUOTE}, key=len, reverse=True)
        words = sorted({n.strip() for n in names if len(n.strip()) >= 2}, key=len, reverse=True)
        alternatives = [re.escape(p) for p in parts] + [rf"(?i:(?<!\w){re.escape(n)}(?!\w))" for n in words]
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    def found(self, text: str) -> bool:
        return bool(self._pattern and text and self._pattern.search(text))

    def redact(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern and text else text


@dataclass
class Found:
    """What the bot holds of one member in one community, read before anything changes."""

    community: str
    member: str
    names: tuple[str, ...]  # the display name the platform gives now, and the name she chose to be shown under
    rounds: dict[int, RoundRow]
    reactions: list[ReactionEventRow]
    ballots: list[BallotEventRow]
    written: list[CandidateRow]  # responses she wrote
    scenarios: list[ScenarioRow]  # scenarios in her words
    accepted: list[ScenarioRow]  # scenarios made from stress cases she accepted (the model's words)
    amendments: list[AmendmentRow]  # amendments she proposed
    answers: list[CandidateRow] = field(default_factory=list)  # the model's answers to her words
    drafts: list[AmendmentRow] = field(default_factory=list)  # bot drafts made from her words
    prompt_hashes: set[str] = field(default_factory=set)  # requests that carried her words
    privacy: MemberPrivacyRow | None = None
    quotes: Quotes = field(default_factory=lambda: Quotes((), ()))

    @property
    def own_words(self) -> list[AmendmentRow]:
        """Her amendments whose text is hers still (not adopted into a published version)."""
        return [a for a in self.amendments if a.status != AmendmentStatus.ADOPTED.value]

    def holds_anything(self) -> bool:
        records = (self.reactions, self.ballots, self.written, self.scenarios, self.accepted, self.amendments)
        return self.privacy is not None or any(records) or bool(self.prompt_hashes)

    def texts(self) -> list[str]:
        """Every text of hers, to look for inside other text."""
        out = [e.reason for e in self.reactions] + [c.text for c in self.written]
        out += [t.content for sc in self.scenarios for t in scenario_turns(sc)] + [sc.title for sc in self.scenarios]
        out += [a.text for a in self.own_words] + [a.rationale for a in self.amendments]
        return [t for t in out if t]


async def _all(s: AsyncSession, q: Any) -> list[Any]:
    return list((await s.exec(q)).all())


async def find(s: AsyncSession, community: str, member: str, names: Iterable[str] = ()) -> Found:
    rounds = {r.id or 0: r for r in await _all(s, select(RoundRow).where(RoundRow.community == community))}
    round_ids = list(rounds)
    R, B, C = ReactionEventRow, BallotEventRow, CandidateRow
    S = StressCaseRow
    from_cases = set(await _all(s, select(S.scenario_id).where(S.community == community, col(S.scenario_id).is_not(None))))
    mine = await _all(s, select(ScenarioRow).where(ScenarioRow.community == community, ScenarioRow.created_by == member))
    privacy = (
        await s.exec(select(MemberPrivacyRow).where(MemberPrivacyRow.community == community, MemberPrivacyRow.member == member))
    ).first()
    found = Found(
        community=community,
        member=member,
        names=tuple(n for n in {*names, privacy.shown_name if privacy else ""} if n),
        rounds=rounds,
        reactions=await _all(s, select(R).where(R.community == community, R.member == member).order_by(col(R.id))),
        ballots=await _all(s, select(B).where(B.community == community, B.member == member).order_by(col(B.id))),
        written=await _all(s, select(C).where(col(C.round_id).in_(round_ids), C.author_member == member).order_by(col(C.id))),
        scenarios=[sc for sc in mine if sc.id not in from_cases and not scenario_erased(sc)],
        accepted=[sc for sc in mine if sc.id in from_cases],
        amendments=await _all(
            s,
            select(AmendmentRow)
            .where(AmendmentRow.community == community, AmendmentRow.proposed_by == member)
            .order_by(col(AmendmentRow.id)),
        ),
        privacy=privacy,
    )
    await _find_derived(s, found)
    found.quotes = Quotes(found.texts(), [*found.names, member])
    return found


async def _find_derived(s: AsyncSession, f: Found) -> None:
    """The model's answers to her words, the requests that carried them, and the drafts made from them."""
    C = CandidateRow
    scenario_ids = {sc.id for sc in f.scenarios}
    amendment_ids = {a.id for a in f.own_words}
    if f.rounds and (scenario_ids or amendment_ids):
        q = select(C).where(
            col(C.round_id).in_(list(f.rounds)),
            C.author_kind == "model",
            or_(col(C.scenario_id).in_(scenario_ids), col(C.amendment_id).in_(amendment_ids)),
        )
        f.answers = await _all(s, q.order_by(col(C.id)))
    P = PromptAuthorRow
    f.prompt_hashes = set(await _all(s, select(P.prompt_hash).where(P.community == f.community, P.member == f.member)))
    f.prompt_hashes |= {c.prompt_hash for c in f.answers if c.prompt_hash}
    drafts = await _all(
        s,
        select(AmendmentRow)
        .where(AmendmentRow.community == f.community, AmendmentRow.origin == AmendmentOrigin.BOT.value)
        .order_by(col(AmendmentRow.id)),
    )
    f.drafts = [a for a in drafts if _made_from(a, f)]
    f.prompt_hashes |= {h for a in f.drafts if (h := _evidence(a).get("prompt_hash")) and isinstance(h, str)}
    f.prompt_hashes.discard("")


def _evidence(a: AmendmentRow) -> dict[str, Any]:
    try:
        record = json.loads(a.evidence_json or "{}")
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def _her_reasons(f: Found) -> set[tuple[int, str]]:
    return {(e.candidate_id, e.reason.strip()[:500]) for e in f.reactions if e.reason.strip()}


def quoted_reasons(a: AmendmentRow, f: Found) -> list[dict[str, Any]]:
    """The reasons of hers that a bot draft's evidence quotes."""
    hers = _her_reasons(f)
    reasons = _evidence(a).get("reasons")
    return [
        r
        for r in (reasons if isinstance(reasons, list) else [])
        if isinstance(r, dict) and (r.get("candidate"), str(r.get("reason", "")).strip()) in hers
    ]


def _made_from(a: AmendmentRow, f: Found) -> bool:
    """Whether a bot draft was made from her words: its request carried them, or its evidence quotes
    her reasons or cites what she wrote (a response, an answer to her scenario)."""
    record = _evidence(a)
    if record.get("prompt_hash") in f.prompt_hashes or quoted_reasons(a, f):
        return True
    hers = {c.id for c in f.written} | {c.id for c in f.answers}
    scenario_ids = {sc.id for sc in f.scenarios}
    cited = record.get("candidates")
    for c in cited if isinstance(cited, list) else []:
        if isinstance(c, dict) and (c.get("id") in hers or c.get("scenario_id") in scenario_ids):
            return True
    return False


# ---------------------------------------------------------------- erasing, one step per table


@dataclass
class Erasure:
    s: AsyncSession
    found: Found
    now: datetime
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # names this erasure's post edits
    edits: int = 0  # posts edited (or changed before they go out)
    check_subjects: set[str] = field(default_factory=set)  # precedent checks whose answers were made from her words

    @property
    def community(self) -> str:
        return self.found.community

    @property
    def member(self) -> str:
        return self.found.member


Step = Callable[[Erasure], Awaitable[None]]


async def _reaction_events(e: Erasure) -> None:
    """Counted per round (with the ballots) before they go, so exports can still reconcile."""
    counts: dict[int, list[int]] = {}
    for r in e.found.reactions:
        counts.setdefault(r.round_id, [0, 0])[0] += 1
    for b in e.found.ballots:
        counts.setdefault(b.round_id, [0, 0])[1] += 1
    e.s.add_all(
        [ErasureCountRow(community=e.community, round_id=r, reaction_events=a, ballot_events=b) for r, (a, b) in counts.items()]
    )
    R = ReactionEventRow
    await e.s.exec(delete(R).where(col(R.community) == e.community, col(R.member) == e.member))


async def _ballot_events(e: Erasure) -> None:
    B = BallotEventRow
    await e.s.exec(delete(B).where(col(B.community) == e.community, col(B.member) == e.member))


async def _candidates(e: Erasure) -> None:
    for c in e.found.written:
        c.text, c.author_member = "", None
        e.s.add(c)
    for c in e.found.answers:
        c.text, c.prompt_hash, c.settings_json = "", "", "{}"
        e.s.add(c)


async def _scenarios(e: Erasure) -> None:
    for sc in e.found.scenarios:
        sc.title, sc.turns_json, sc.created_by, sc.removed = "", ERASED_SCENARIO, ERASED_AUTHOR, True
        e.s.add(sc)
    for sc in e.found.accepted:  # the stress case's words are the model's: only her name goes
        sc.created_by = ERASED_AUTHOR
        e.s.add(sc)


async def _amendments(e: Erasure) -> None:
    for a in e.found.amendments:
        a.proposed_by, a.rationale = ERASED_AUTHOR, ""
        if a.status != AmendmentStatus.ADOPTED.value:
            a.text = ""
        r = e.found.rounds.get(a.round_id)
        if a.status == AmendmentStatus.PROPOSED.value and r is not None and Phase(r.phase).is_open:
            a.status = AmendmentStatus.WITHDRAWN.value  # nothing of hers is left to vote on
        e.s.add(a)
    quoted = {json.dumps(r, sort_keys=True) for a in e.found.drafts for r in quoted_reasons(a, e.found)}
    for a in e.found.drafts:
        record = _evidence(a)
        if isinstance(record.get("reasons"), list):
            record["reasons"] = [r for r in record["reasons"] if json.dumps(r, sort_keys=True) not in quoted]
        if record.get("prompt_hash") in e.found.prompt_hashes:
            record["prompt_hash"] = ""
        a.evidence_json = json.dumps(record, ensure_ascii=False)
        a.rationale = ""  # the model's words about her words
        a.text = e.found.quotes.redact(a.text)
        e.s.add(a)


async def _anonymise(e: Erasure, column: Any, *where: Any) -> None:
    """Replace her id by ERASED_AUTHOR in one column, where it names her."""
    table = column.class_
    await e.s.exec(update(table).where(column == e.member, *where).values({column.key: ERASED_AUTHOR}))


async def _policies(e: Erasure) -> None:
    await _anonymise(e, col(PolicyRow.created_by), col(PolicyRow.community) == e.community)


async def _policy_versions(e: Erasure) -> None:
    policies = select(PolicyRow.id).where(PolicyRow.community == e.community)
    await _anonymise(e, col(PolicyVersionRow.created_by), col(PolicyVersionRow.policy_id).in_(policies))
    versions = await _all(e.s, select(PolicyVersionRow).where(col(PolicyVersionRow.policy_id).in_(policies)))
    for v in versions:
        if e.found.quotes.found(v.changelog):
            v.changelog = e.found.quotes.redact(v.changelog)
            e.s.add(v)


async def _rounds(e: Erasure) -> None:
    for r in e.found.rounds.values():
        note = e.found.quotes.redact(r.note)
        if r.opened_by == e.member or note != r.note:
            r.opened_by = ERASED_AUTHOR if r.opened_by == e.member else r.opened_by
            r.note = note
            e.s.add(r)


async def _stress_cases(e: Erasure) -> None:
    mine = col(StressCaseRow.community) == e.community
    await _anonymise(e, col(StressCaseRow.proposed_by), mine)
    await _anonymise(e, col(StressCaseRow.accepted_by), mine)


async def _llm_cache(e: Erasure) -> None:
    if e.found.prompt_hashes:
        await e.s.exec(delete(LLMCacheRow).where(col(LLMCacheRow.prompt_hash).in_(e.found.prompt_hashes)))


async def _llm_calls(e: Erasure) -> None:
    if e.found.prompt_hashes:  # the line stays for the round's cost and timing
        await e.s.exec(
            update(LLMCallRow).where(col(LLMCallRow.prompt_hash).in_(e.found.prompt_hashes)).values(prompt_hash="", detail="")
        )


async def _prompt_authors(e: Erasure) -> None:
    P = PromptAuthorRow
    await e.s.exec(delete(P).where(col(P.community) == e.community, col(P.member) == e.member))


async def _reminder_opt_out(e: Erasure) -> None:
    O = ReminderOptOutRow  # noqa: E741
    await e.s.exec(delete(O).where(col(O.community) == e.community, col(O.member) == e.member))


async def _member_privacy(e: Erasure) -> None:
    """Her settings go; an anonymous row remembers that a member erased (exports count them)."""
    if e.found.privacy is not None:
        await e.s.delete(e.found.privacy)
        await e.s.flush()
    if e.found.holds_anything():
        marker = f"{ERASED_AUTHOR}{e.token}"
        e.s.add(MemberPrivacyRow(community=e.community, member=marker, erased_at=e.now, updated_at=e.now))


async def _export_settings(e: Erasure) -> None:
    await _anonymise(e, col(CommunityExportSettingsRow.updated_by), col(CommunityExportSettingsRow.community) == e.community)


async def _discord_settings(e: Erasure) -> None:
    await _anonymise(e, col(DiscordGuildSettingsRow.updated_by), col(DiscordGuildSettingsRow.guild_id) == e.community)


async def _moderator_group(e: Erasure) -> None:
    G = CommunityModeratorGroupRow
    await _anonymise(e, col(G.updated_by), col(G.community) == e.community)


async def _polis_state(e: Erasure) -> None:
    await forget_member(e.s, e.community, e.member)


async def _slack_installations(e: Erasure) -> None:
    """Bolt keeps who installed policybot in a workspace (and her user token, had she granted user
    scopes; policybot asks for none): her id becomes ERASED_AUTHOR and any user token goes. The
    workspace's bot token stays: it is the workspace's, and its rounds go on."""
    t = slack_installations
    mine = (t.c.team_id == e.community, t.c.user_id == e.member)
    user_token = {"user_token": None, "user_scopes": None, "user_refresh_token": None, "user_token_expires_at": None}
    await e.s.exec(update(t).where(*mine).values(user_id=ERASED_AUTHOR, **user_token))


async def _handled_requests(e: Erasure) -> None:
    """Anyone's answer kept for a replay here may quote her: every kept answer is emptied, and her
    requests lose her id. The request keys stay claimed, so a late replay of one of her requests still
    acts once (it is told the request was handled). This erasure's own request is kept without her id."""
    H = HandledRequestRow
    await e.s.exec(update(H).where(col(H.community) == e.community, col(H.member) == e.member).values(member=""))
    await e.s.exec(update(H).where(col(H.community) == e.community).values(reply=""))
    scope = command_scope.active()
    if scope is not None:
        scope.member = ""


async def _outbox(e: Erasure) -> None:
    """Every post that shows her words or name, edited through the outbox; then any post not yet
    delivered that still quotes her is redacted before it goes out."""
    await _edit_posts(e)
    O = OutboxRow  # noqa: E741
    pending = await _all(
        e.s, select(O).where(col(O.community) == e.community, col(O.delivered_at).is_(None), col(O.kind) != RESULTS)
    )
    for row in pending:
        post = post_from_json(row.content)
        fixed = _redacted(post, e.found.quotes)
        if fixed != post:
            row.content = post_to_json(fixed)
            e.s.add(row)


async def _precedents(e: Erasure) -> None:
    """A precedent she retired: her id and her reason go; the precedent and its counts stay."""
    P = PrecedentRow
    mine = (col(P.community) == e.community, col(P.retired_by) == e.member)
    await e.s.exec(update(P).where(*mine).values(retired_by=ERASED_AUTHOR, retired_reason=""))


async def _precedent_checks(e: Erasure) -> None:
    """A check whose new answer was made from her words (her scenario's precedent, her amendment, or a
    request that carried her words): the answer and the judge's reason go, the verdict stays."""
    C = PrecedentCheckRow
    scenarios = [s.id for s in e.found.scenarios if s.id is not None]
    subjects = [f"amendment:{a.id}" for a in e.found.amendments]
    her_precedents = select(PrecedentRow.id).where(col(PrecedentRow.scenario_id).in_(scenarios))
    made_from_her = or_(
        col(C.precedent_id).in_(her_precedents),
        col(C.subject).in_(subjects),
        col(C.answer_prompt_hash).in_(e.found.prompt_hashes),
        col(C.judge_prompt_hash).in_(e.found.prompt_hashes),
    )
    where = (col(C.community) == e.community, made_from_her)
    e.check_subjects = set(await _all(e.s, select(C.subject).where(*where).distinct()))
    await e.s.exec(
        update(C)
        .where(*where)
        .values(answer="", reason="", answer_prompt_hash="", judge_prompt_hash="", detail="")
        .execution_options(synchronize_session=False)
    )


async def _tries(e: Erasure) -> None:
    """Her private tries: gone, with their cached answers and the prompt hashes of their log lines."""
    T = TryRow
    mine = (col(T.community) == e.community, col(T.member) == e.member)
    hashes = {h for h in await _all(e.s, select(T.prompt_hash).where(*mine)) if h}
    if hashes:
        await e.s.exec(delete(LLMCacheRow).where(col(LLMCacheRow.prompt_hash).in_(hashes)))
        await e.s.exec(update(LLMCallRow).where(col(LLMCallRow.prompt_hash).in_(hashes)).values(prompt_hash="", detail=""))
    await e.s.exec(delete(T).where(*mine))


def _redacted(post: Post, quotes: Quotes) -> Post:
    fields = tuple(Field(quotes.redact(f.name), quotes.redact(f.value), f.inline) for f in post.fields)
    return dataclasses.replace(post, title=quotes.redact(post.title), text=quotes.redact(post.text), fields=fields)


# table → its step, in the order they run (collected data first, posts last); a table that the
# registry lists as holding member data must have a step here (tests/unit/test_privacy_registry.py)
STEPS: dict[str, Step] = {
    "reaction_event": _reaction_events,
    "ballot_event": _ballot_events,
    "candidate": _candidates,
    "scenario": _scenarios,
    "amendment": _amendments,
    "policy": _policies,
    "policy_version": _policy_versions,
    "round": _rounds,
    "stress_case": _stress_cases,
    "llm_cache": _llm_cache,
    "llm_call": _llm_calls,
    "llm_prompt_author": _prompt_authors,
    "reminder_opt_out": _reminder_opt_out,
    "member_privacy": _member_privacy,
    "community_export_settings": _export_settings,
    "discord_guild_settings": _discord_settings,
    "community_moderator_group": _moderator_group,
    "round_polis_state": _polis_state,
    "precedent": _precedents,
    "precedent_check": _precedent_checks,
    "try_prompt": _tries,
    "handled_request": _handled_requests,
    "outbox": _outbox,
    "slack_installations": _slack_installations,
}


async def erase(s: AsyncSession, found: Found, now: datetime) -> Erasure:
    """Apply every step in the session's transaction (the caller commits)."""
    e = Erasure(s, found, now)
    for step in STEPS.values():
        await step(e)
    return e


# ---------------------------------------------------------------- the posts that showed her


async def _edit(e: Erasure, of: str, post: Post, message: str | None = None, why: str = "erased") -> None:
    """An edit of the post with outbox key `of` (or of `message`), if it was made or is pending. It
    belongs to no round, so a failure never holds a round's posts back; start-up delivers it again."""
    if message is None and (await e.s.exec(select(OutboxRow.id).where(OutboxRow.key == of))).first() is None:
        return
    await enqueue_edit(e.s, f"{of}:{why}:{e.token}", post, community=e.community, of=of, message=message)
    e.edits += 1


async def credit_posts(s: AsyncSession, found: Found, now: datetime, credit: str) -> int:
    """Edit the posts of her responses and amendments to credit her as `credit` (her choice of name
    changed); returns how many posts are edited."""
    e = Erasure(s, found, now)
    for c in found.written:
        if c.text:
            post = candidate_post(found.rounds[c.round_id], c, None, credit)
            await _edit(e, candidate_key(c.round_id, c.id or 0), post, c.message_key, "credit")
    for a in found.amendments:
        r = found.rounds[a.round_id]
        numbers = {c.key: c.number for c in await clauses_of(s, r.policy_version_id)}
        await _edit(e, f"round:{a.round_id}:amendment:{a.id}", proposal_post(r, a, numbers, credit), None, "credit")
        await _edit(e, f"round:{a.round_id}:ballot:{a.id}", await ballot_now(s, r, a, numbers, credit), a.message_key, "credit")
    return e.edits


async def _edit_posts(e: Erasure) -> None:
    f = e.found
    touched = {c.round_id for c in [*f.written, *f.answers]} | {a.round_id for a in [*f.amendments, *f.drafts]}
    numbers: dict[int, dict[str, int]] = {}
    for round_id in touched:
        numbers[round_id] = {c.key: c.number for c in await clauses_of(e.s, f.rounds[round_id].policy_version_id)}
    for c in [*f.written, *(a for a in f.answers if a.amendment_id is None)]:
        r = f.rounds[c.round_id]
        await _edit(e, candidate_key(c.round_id, c.id or 0), candidate_post(r, c, None), c.message_key)
    await _edit_scenarios(e)
    for a in [*f.amendments, *f.drafts]:
        r = f.rounds[a.round_id]
        if a.origin == AmendmentOrigin.BOT.value:
            policy, version = await policy_of_version(e.s, r.policy_version_id)
            first = draft_post(a, numbers[a.round_id], f"{policy.name} v{version.version}", r.channel)
        else:
            first = proposal_post(r, a, numbers[a.round_id])
        await _edit(e, f"round:{a.round_id}:amendment:{a.id}", first)
        ballot = await ballot_now(e.s, r, a, numbers[a.round_id], ANONYMOUS_MEMBER)
        await _edit(e, f"round:{a.round_id}:ballot:{a.id}", ballot, a.message_key)
    await _edit_previews(e, numbers)
    for round_id in sorted({a.round_id for a in [*f.amendments, *f.drafts]}):
        await _edit_results(e, f.rounds[round_id], numbers[round_id])
    await _edit_precedent_posts(e, {a.id for a in f.amendments})


async def _edit_precedent_posts(e: Erasure, done: set[int | None]) -> None:
    """The posts that showed precedent checks made from her words: the ballots of other members'
    amendments (how they fare, naming her scenario) and a published version's checks."""
    for subject in sorted(e.check_subjects):
        kind, _, number = subject.partition(":")
        if kind == "amendment" and int(number) not in done:
            a = await e.s.get(AmendmentRow, int(number))
            r = await e.s.get(RoundRow, a.round_id) if a is not None else None
            if a is None or r is None:
                continue
            numbers = {c.key: c.number for c in await clauses_of(e.s, r.policy_version_id)}
            credit = (await shown_names(e.s, r.community, [a.proposed_by])).get(a.proposed_by, ANONYMOUS_MEMBER)
            await _edit(e, f"round:{a.round_id}:ballot:{a.id}", await ballot_now(e.s, r, a, numbers, credit), a.message_key)
        elif kind == "version":
            await _edit_version_checks(e, int(number), subject)


async def _edit_version_checks(e: Erasure, version_id: int, subject: str) -> None:
    version = await e.s.get(PolicyVersionRow, version_id)
    r = await version_round(e.s, version) if version is not None else None
    if version is None or r is None or r.id is None:
        return
    policy, _ = await policy_of_version(e.s, version_id)
    post = version_post(r.channel, policy.name, version.version, r.id, await stored_checks(e.s, subject))
    prefix = f"round:{r.id}:precedents:v{version.version}"
    keys = await _all(e.s, select(OutboxRow.key).where(col(OutboxRow.key).startswith(prefix), col(OutboxRow.kind) == POST))
    for key in keys:
        if key == prefix or (key.startswith(prefix + ":") and key.count(":") == prefix.count(":") + 1):
            await _edit(e, key, post)


async def _edit_scenarios(e: Erasure) -> None:
    ids = [sc.id for sc in e.found.scenarios]
    if not ids:
        return
    by_id = {sc.id: sc for sc in e.found.scenarios}
    RS = RoundScenarioRow
    links = await _all(e.s, select(RS).where(col(RS.scenario_id).in_(ids), col(RS.round_id).in_(list(e.found.rounds))))
    for rs in links:
        r, sc = e.found.rounds[rs.round_id], by_id[rs.scenario_id]
        post = scenario_post_of(r, rs, sc)
        await _edit(e, scenario_key(rs.round_id, rs.scenario_id), post, rs.thread_key)


def scenario_post_of(r: RoundRow, rs: RoundScenarioRow, sc: ScenarioRow) -> Post:
    return scenario_post(r, rs.position, sc.id or 0, rs.id or 0, scenario_turns(sc), scenario_title(sc))


async def _edit_previews(e: Erasure, numbers: Mapping[int, dict[str, int]]) -> None:
    """The before/after posts of her amendments' previews, and of any preview on her scenarios."""
    f = e.found
    amendment_ids = {a.id for a in f.own_words}
    scenario_ids = {sc.id for sc in f.scenarios}
    C = CandidateRow
    pairs = set(
        await _all(
            e.s,
            select(C.round_id, C.amendment_id, C.scenario_id).where(
                col(C.round_id).in_(list(f.rounds)),
                col(C.amendment_id).is_not(None),
                or_(col(C.amendment_id).in_(amendment_ids), col(C.scenario_id).in_(scenario_ids)),
            ),
        )
    )
    for round_id, amendment_id, scenario_id in sorted(pairs):
        a, sc = await e.s.get(AmendmentRow, amendment_id), await e.s.get(ScenarioRow, scenario_id)
        if a is None or sc is None:
            continue
        shown = await _all(e.s, select(C).where(C.round_id == round_id, C.scenario_id == scenario_id, C.author_kind == "model"))
        before = sorted((c for c in shown if c.amendment_id is None), key=lambda c: c.position)
        after = sorted((c for c in shown if c.amendment_id == amendment_id), key=lambda c: c.position)
        r = f.rounds[round_id]
        clause_number = numbers.get(round_id) or {c.key: c.number for c in await clauses_of(e.s, r.policy_version_id)}
        post = before_after_post(r, a, describe_amendment(a, clause_number), sc, before, after)
        await _edit(e, f"round:{round_id}:preview:{amendment_id}:{scenario_id}", post)


async def _edit_results(e: Erasure, r: RoundRow, numbers: Mapping[str, int]) -> None:
    """A closed round's results post, rebuilt from its published tallies (the totals stay)."""
    tallies = await _all(e.s, select(TallyRow).where(TallyRow.round_id == r.id).order_by(col(TallyRow.amendment_id)))
    if not tallies:
        return
    policy, version = await policy_of_version(e.s, r.policy_version_id)
    adopted = sum(1 for t in tallies if t.adopted)
    if r.result_version_id is not None:
        published = await e.s.get(PolicyVersionRow, r.result_version_id)
        number = published.version if published is not None else version.version + 1
        headline = f"{policy.name} v{number} is published with {adopted} adopted amendment(s)."
    else:
        headline = f"No amendment was adopted; {policy.name} stays at v{version.version}."
    lines: list[tuple[int, str]] = []
    for t in tallies:
        a = await e.s.get(AmendmentRow, t.amendment_id)
        if a is not None:
            counts, bridging = (t.yes, t.no, t.abstain), bool(r.bridging_min_voters)
            lines.append((t.amendment_id, tally_line(a, numbers, counts, t.adopted, t.reason, _tally_groups(t), bridging)))
    await _edit(e, f"round:{r.id}:results", results_post(r, headline, lines))


def _tally_groups(t: TallyRow) -> dict[str, list[int]]:
    try:
        groups = json.loads(t.detail_json or "{}").get("groups") or {}
    except (json.JSONDecodeError, AttributeError):
        return {}
    return {g: c for g, c in groups.items() if isinstance(c, list) and len(c) == 3} if isinstance(groups, dict) else {}


# ---------------------------------------------------------------- counts, for the replies


async def count_rows(s: AsyncSession, f: Found) -> dict[str, int]:
    """How many model-call records and kept answers carry her words (for /privacy show and erase)."""
    out = {"cached_answers": 0, "log_lines": 0}
    if f.prompt_hashes:
        out["cached_answers"] = (
            await s.exec(select(func.count()).where(col(LLMCacheRow.prompt_hash).in_(f.prompt_hashes)))
        ).one()
        out["log_lines"] = (await s.exec(select(func.count()).where(col(LLMCallRow.prompt_hash).in_(f.prompt_hashes)))).one()
    H = HandledRequestRow
    out["kept_answers"] = (await s.exec(select(func.count()).where(H.community == f.community, H.member == f.member))).one()
    T = TryRow
    out["tries"] = (await s.exec(select(func.count()).where(T.community == f.community, T.member == f.member))).one()
    return out
