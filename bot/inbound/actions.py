"""Button custom_ids: templates the core writes and parses back, so buttons work after a restart."""

from __future__ import annotations

import re

from bot.domain.commands import AcceptStressCase, Actor, CastBallot, Command, RecordReaction
from bot.domain.model import BallotChoice, Stance
from bot.errors import CommandError

BALLOT_TEMPLATE = re.compile(r"^policybot:ballot:(\d{1,12}):(yes|no|abstain)$")
BEST_TEMPLATE = re.compile(r"^policybot:best:(\d{1,12})$")
STRESS_TEMPLATE = re.compile(r"^policybot:stress:(\d{1,12}):accept$")  # generation


def command_for_action(custom_id: str, actor: Actor, event_key: str) -> Command:
    m = BALLOT_TEMPLATE.match(custom_id)
    if m:
        return CastBallot(actor, int(m.group(1)), BallotChoice(m.group(2)), event_key=event_key)
    m = BEST_TEMPLATE.match(custom_id)
    if m:
        return RecordReaction(actor, Stance.BEST, event_key=event_key, candidate_id=int(m.group(1)))
    m = STRESS_TEMPLATE.match(custom_id)
    if m:
        return AcceptStressCase(actor, int(m.group(1)))
    raise CommandError("That button is not one of policybot's, or is out of date.")
