"""Every button policybot posts, in one list: its custom_id template, the builder that writes it, and
the command a press on it becomes.

A button's custom_id carries all it needs (which amendment, which choice), so a press on a message
posted by an earlier process is read from the custom_id alone. Discord registers one DynamicItem per
template of BUTTON_TEMPLATES (adapters/discord/components.py); Slack routes every `policybot:` action
to command_for_action. A new button is one more template here and its builder."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.domain.commands import AcceptStressCase, Actor, CastBallot, Command, PrecedentChecks, RecordReaction
from bot.domain.model import BallotChoice, Stance
from bot.domain.outputs import Button
from bot.errors import CommandError

PREFIX = "policybot:"
ID = r"\d{1,12}"  # a database id as the core writes it (the handlers refuse ids beyond their columns)

ToCommand = Callable[[re.Match[str], Actor, str], Command]  # (the custom_id's parts, who pressed, the press's event key)


@dataclass(frozen=True, slots=True)
class ButtonTemplate:
    """One kind of button. `template` is its custom_id with {fields}; `fields` gives each field's
    pattern; the compiled `pattern` (named groups) reads a custom_id back."""

    name: str
    template: str
    fields: Mapping[str, str]
    to_command: ToCommand
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        parts: list[str] = []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            parts.append(re.escape(literal))
            if name is not None:
                parts.append(f"(?P<{name}>{self.fields[name]})")
        object.__setattr__(self, "pattern", re.compile("^" + "".join(parts) + "$"))

    def custom_id(self, **values: object) -> str:
        custom_id = self.template.format(**values)
        if not self.pattern.fullmatch(custom_id):
            raise ValueError(f"{custom_id!r} does not fit the {self.name} button's template {self.template!r}")
        return custom_id


def _ballot(m: re.Match[str], actor: Actor, event_key: str) -> Command:
    return CastBallot(actor, int(m["amendment"]), BallotChoice(m["choice"]), event_key=event_key)


def _best(m: re.Match[str], actor: Actor, event_key: str) -> Command:
    return RecordReaction(actor, Stance.BEST, event_key=event_key, candidate_id=int(m["candidate"]))


def _accept_stress_case(m: re.Match[str], actor: Actor, event_key: str) -> Command:
    return AcceptStressCase(actor, int(m["case"]))  # accepting twice is refused by the handler: no key needed


def _precedent_checks(m: re.Match[str], actor: Actor, event_key: str) -> Command:
    return PrecedentChecks(actor, amendment_id=int(m["amendment"]))  # a question: pressing twice asks twice


BALLOT = ButtonTemplate(
    "ballot",
    PREFIX + "ballot:{amendment}:{choice}",
    {"amendment": ID, "choice": "|".join(c.value for c in BallotChoice)},
    _ballot,
)
BEST = ButtonTemplate("best", PREFIX + "best:{candidate}", {"candidate": ID}, _best)
ACCEPT_STRESS_CASE = ButtonTemplate("stress-accept", PREFIX + "stress:{case}:accept", {"case": ID}, _accept_stress_case)

PRECEDENT_CHECKS = ButtonTemplate(
    "precedent-checks", PREFIX + "precedents:{amendment}", {"amendment": ID}, _precedent_checks
)  # precedents

BUTTON_TEMPLATES: tuple[ButtonTemplate, ...] = (BALLOT, BEST, ACCEPT_STRESS_CASE, PRECEDENT_CHECKS)

_BALLOT_LOOK = {
    BallotChoice.YES: ("Yes", "success"),
    BallotChoice.NO: ("No", "danger"),
    BallotChoice.ABSTAIN: ("Abstain", "secondary"),
}


# ---------------------------------------------------------------- builders (the Post builders use these)


def ballot_buttons(amendment_id: int) -> tuple[Button, ...]:
    """Yes / No / Abstain under an amendment in the vote."""
    return tuple(
        Button(BALLOT.custom_id(amendment=amendment_id, choice=choice.value), label, style)
        for choice, (label, style) in _BALLOT_LOOK.items()
    )


def best_button(candidate_id: int) -> Button:
    """ "Best of this scenario" under a candidate."""
    return Button(BEST.custom_id(candidate=candidate_id), "⭐ Best of this scenario", "primary")


def accept_stress_case_button(case_id: int) -> Button:
    """ "Accept into the round" under a proposed stress case."""
    return Button(ACCEPT_STRESS_CASE.custom_id(case=case_id), "Accept into the round", "primary")


def precedent_checks_button(amendment_id: int) -> Button:
    """ "See the precedent checks" under an amendment on the ballot."""
    return Button(PRECEDENT_CHECKS.custom_id(amendment=amendment_id), "See the precedent checks", "secondary")


# ---------------------------------------------------------------- a press → a command


def template_of(custom_id: str) -> ButtonTemplate | None:
    return next((t for t in BUTTON_TEMPLATES if t.pattern.fullmatch(custom_id)), None)


def command_for_action(custom_id: str, actor: Actor, event_key: str) -> Command:
    """The command a press on a policybot button is; the press's event key makes a redelivery count once."""
    template = template_of(custom_id)
    match = template.pattern.fullmatch(custom_id) if template is not None else None
    if template is None or match is None:
        raise CommandError("That button is not one of policybot's, or is out of date.")
    return template.to_command(match, actor, event_key)
