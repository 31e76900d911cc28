"""How rounds, scenarios, candidates and amendments look as Posts (platform-neutral)."""

from __future__ import annotations

from bot.domain.model import CANDIDATE_LABELS, AmendmentKind, Phase, Stance, Turn
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


def candidate_post(r: RoundRow, c: CandidateRow, thread_parent: str | None) -> Post:
    who = f"written by member {c.author_member}" if c.author_kind == "human" else f"{c.model}"
    return Post(
        channel=r.channel,
        title=f"Candidate {label(c.position)} (#{c.id}) · {who}",
        text=c.text,
        seed_reactions=STANCES,
        buttons=(best_button(c.id or 0),),
        thread_parent=thread_parent,
        subject=Subject("candidate", c.id or 0),
        untrusted=True,
    )


def describe_amendment(a: AmendmentRow, clause_number: dict[str, int]) -> str:
    kind = AmendmentKind(a.kind)
    where = clause_number.get(a.clause_key or "")
    if kind == AmendmentKind.ADD:
        if a.clause_key == "^":
            place = "at the start"
        elif where is not None:
            place = f"after clause {where}"
        else:
            place = "at the end"
        return f"add a clause {place}: “{a.text}”"
    if kind == AmendmentKind.REPLACE:
        return f"replace clause {where} ({a.clause_key}) with: “{a.text}”"
    return f"remove clause {where} ({a.clause_key})"


def ballot_post(
    r: RoundRow, a: AmendmentRow, clause_number: dict[str, int], *, precedents: str | None = None, checks_button: bool = False
) -> Post:
    """`precedents`: how the amendment fares against the policy's precedents (bot.generation.precedent_checks);
    `checks_button`: a button showing each check."""
    origin = "drafted by the bot" if a.origin == "bot" else f"proposed by {a.proposed_by}"
    fields: tuple[Field, ...] = (Field("Rationale", a.rationale),) if a.rationale else ()
    if precedents is not None:
        fields += (Field("Precedents", cut(precedents, 1000)),)
    buttons = ballot_buttons(a.id or 0) + ((precedent_checks_button(a.id or 0),) if checks_button else ())
    return Post(
        channel=r.channel,
        title=f"Amendment #{a.id} ({origin})",
        text=describe_amendment(a, clause_number),
        fields=fields,
        buttons=buttons,
        subject=Subject("amendment", a.id or 0),
        untrusted=True,
    )
