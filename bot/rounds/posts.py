"""How rounds, scenarios, candidates and amendments look as Posts (platform-neutral)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from bot.domain.model import (
    ANONYMOUS_MEMBER,
    CANDIDATE_LABELS,
    ERASED_TEXT,
    AmendmentKind,
    AmendmentOrigin,
    AmendmentStatus,
    Phase,
    Stance,
    Turn,
)
from bot.domain.outputs import Field, Post, Subject, cut, time_token
from bot.inbound.actions import ballot_buttons, best_button, precedent_checks_button
from storage.tables import AmendmentRow, CandidateRow, RoundRow

STANCES = (Stance.ENDORSE, Stance.OBJECT, Stance.PASS)


def label(position: int) -> str:
    return CANDIDATE_LABELS[position] if position < len(CANDIDATE_LABELS) else str(position + 1)


def phase_line(r: RoundRow) -> str:
    phase = Phase(r.phase)
    if r.paused_remaining_seconds is not None:
        return f"{phase.value.upper()} (paused)"
    if phase.is_open and r.phase_ends_at is not None:
        return f"{phase.value.upper()} until {time_token(r.phase_ends_at)}"
    return phase.value.upper()


def announcement(r: RoundRow, policy: str, version: int, n_scenarios: int, n_candidates: int) -> Post:
    return Post(
        channel=r.channel,
        title=f"Policy round #{r.id}: {policy} v{version}",
        text=(
            f"Phase: {phase_line(r)}.\n"
            f"{n_candidates} candidate responses to {n_scenarios} scenario(s), one thread per scenario. "
            "React to each candidate: 👍 endorse, 👎 object, 🤷 pass; pick the best of each scenario with ⭐. "
            f"Propose changes with /amend (round {r.id})."
        ),
        subject=Subject("round", r.id or 0),
    )


def scenario_post(
    r: RoundRow, position: int, scenario_id: int, round_scenario_id: int, turns: tuple[Turn, ...], title: str
) -> Post:
    body = "\n".join(f"**{t.role}:** {t.content}" for t in turns)
    return Post(
        channel=r.channel,
        title=f"Round #{r.id} · scenario {position + 1} (#{scenario_id}): {title}",
        text=body,
        start_thread=f"Round {r.id} · scenario {position + 1}",
        subject=Subject("round_scenario", round_scenario_id),
        untrusted=True,
    )


ERASED_ANSWER = "(erased with the scenario or amendment it answered, whose author erased it)"


def candidate_post(r: RoundRow, c: CandidateRow, thread_parent: str | None, credit: str = ANONYMOUS_MEMBER) -> Post:
    """A candidate as members see it. A member-written one is credited to `credit` (the name she chose
    to be shown under, or "a member"), never to her platform id. An erased one (no text) says so."""
    human = c.author_kind == "human"
    if not c.text:
        return Post(
            channel=r.channel,
            title=f"Candidate {label(c.position)} (#{c.id}) · erased",
            text=ERASED_TEXT if human else ERASED_ANSWER,
            thread_parent=thread_parent,
            subject=Subject("candidate", c.id or 0),
        )
    return Post(
        channel=r.channel,
        title=f"Candidate {label(c.position)} (#{c.id}) · {f'written by {credit}' if human else c.model}",
        text=c.text,
        seed_reactions=STANCES,
        buttons=(best_button(c.id or 0),),
        thread_parent=thread_parent,
        subject=Subject("candidate", c.id or 0),
        untrusted=True,
    )


def describe_amendment(a: AmendmentRow, clause_number: Mapping[str, int]) -> str:
    kind = AmendmentKind(a.kind)
    where = clause_number.get(a.clause_key or "")
    text = a.text or ERASED_TEXT  # only an erased amendment to add or replace has no text
    if kind == AmendmentKind.ADD:
        if a.clause_key == "^":
            place = "at the start"
        elif where is not None:
            place = f"after clause {where}"
        else:
            place = "at the end"
        return f"add a clause {place}: “{text}”"
    if kind == AmendmentKind.REPLACE:
        return f"replace clause {where} ({a.clause_key}) with: “{text}”"
    return f"remove clause {where} ({a.clause_key})"


def proposal_post(r: RoundRow, a: AmendmentRow, clause_number: Mapping[str, int], credit: str = ANONYMOUS_MEMBER) -> Post:
    """A member's amendment as announced when proposed, credited to `credit` (never a platform id)."""
    title = f"Amendment #{a.id} proposed by {credit} (round #{r.id})"
    return Post(r.channel, title, describe_amendment(a, clause_number), untrusted=True)


def ballot_post(
    r: RoundRow,
    a: AmendmentRow,
    clause_number: Mapping[str, int],
    credit: str = ANONYMOUS_MEMBER,
    *,
    precedents: str | None = None,
    checks_button: bool = False,
) -> Post:
    """`credit`: who proposed it, as the member chose to be shown (never a platform id); `precedents`:
    how the amendment fares against the policy's precedents (bot.generation.precedent_checks);
    `checks_button`: a button showing each check."""
    origin = "drafted by the bot" if a.origin == AmendmentOrigin.BOT.value else f"proposed by {credit}"
    fields: tuple[Field, ...] = (Field("Rationale", a.rationale),) if a.rationale else ()
    if precedents is not None:
        fields += (Field("Precedents", cut(precedents, 1000)),)
    on_ballot = a.status == AmendmentStatus.PROPOSED.value
    buttons = ballot_buttons(a.id or 0) if on_ballot else ()
    if checks_button:
        buttons += (precedent_checks_button(a.id or 0),)
    return Post(
        channel=r.channel,
        title=f"Amendment #{a.id} ({origin})" + ("" if on_ballot else f" · {a.status}"),
        text=describe_amendment(a, clause_number),
        fields=fields,
        buttons=buttons,
        subject=Subject("amendment", a.id or 0),
        untrusted=True,
    )


def evidence_line(summary: Mapping[str, object]) -> str:
    """One candidate of a bot draft's evidence, from its summary (counts only, no one's words)."""
    text = f"candidate #{summary.get('id')} (scenario #{summary.get('scenario_id')}): "
    text += f"{summary.get('endorse', 0)} endorse / {summary.get('object', 0)} object / {summary.get('pass', 0)} pass"
    groups = summary.get("groups")
    if isinstance(groups, dict) and groups:
        text += "; by group " + ", ".join(
            f"{g}: {v.get('endorse', 0)}/{v.get('object', 0)}/{v.get('pass', 0)}"
            for g, v in sorted(groups.items())
            if isinstance(v, dict)
        )
    return text


def draft_post(a: AmendmentRow, numbers: Mapping[str, int], policy: str, channel: str) -> Post:
    """A bot-drafted amendment, with its rationale and the evidence it cites (from its evidence_json)."""
    try:
        record = json.loads(a.evidence_json or "{}")
    except json.JSONDecodeError:
        record = {}
    cited = record.get("candidates", []) if isinstance(record, dict) else []
    lines = [evidence_line(c) for c in cited if isinstance(c, dict)]
    fields = [Field("Evidence", "\n".join(lines)[:1000])] if lines else []
    if a.rationale:
        fields.insert(0, Field("Rationale", a.rationale[:1000]))
    return Post(
        channel,
        f"Amendment #{a.id} drafted by the bot (round #{a.round_id})",
        describe_amendment(a, numbers) + f"\n(on {policy}; withdraw it with /amend withdraw {a.id})",
        tuple(fields),
        untrusted=True,
    )


def tally_line(
    a: AmendmentRow,
    clause_number: Mapping[str, int],
    counts: tuple[int, int, int],
    adopted: bool,
    reason: str,
    groups: Mapping[str, Sequence[int]],
    bridging: bool,
) -> str:
    """One amendment's result as the results post and the changelog state it."""
    yes, no, abstain = counts
    verdict = "adopted" if adopted else "not adopted"
    line = f"#{a.id} {describe_amendment(a, clause_number)}: {verdict}; {yes} yes, {no} no, {abstain} abstain; {reason}."
    if groups:  # analysis: how each opinion group voted
        by_group = "; ".join(f"{g}: {c[0]} yes, {c[1]} no, {c[2]} abstain" for g, c in groups.items())
        line += f" By opinion group: {by_group}."
    elif bridging:
        line += " No opinion groups could be separated (too few members), so the bridging rule did not apply."
    return line


def results_post(r: RoundRow, headline: str, lines: Sequence[tuple[int, str]]) -> Post:
    """The vote's results: the headline, then one field per amendment (id, tally line)."""
    fields = tuple(Field(f"Amendment #{amendment_id}", line) for amendment_id, line in lines)
    return Post(r.channel, f"Round #{r.id}: results", headline, fields[:25])
