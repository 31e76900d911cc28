"""Reactions (emoji, buttons, /react and /unreact): recorded by group commit, answered once durable."""

from __future__ import annotations

import logging

from bot.domain.commands import RecordReaction
from bot.domain.outputs import Outcome, Reply
from bot.errors import CommandError
from bot.services import Services

log = logging.getLogger("policybot.reactions")


async def record_reaction(cmd: RecordReaction, svc: Services) -> Outcome:
    try:
        done = await svc.recorder.record(cmd)
    except CommandError as e:  # refused (not a candidate, round over, …): worth seeing in the log
        log.warning("reaction %s refused: %s", cmd.event_key, e.message)
        raise
    except Exception:  # the batch holding this event did not commit: it is not recorded
        log.exception("reaction %s not recorded", cmd.event_key)
        return Outcome(Reply("Your reaction could not be recorded just now; please react again.", ok=False))
    verb = "removed" if cmd.removed else "recorded"
    extra = " (already recorded)" if done.duplicate else ""
    return Outcome(Reply(f"Your {cmd.stance.value} on candidate #{done.candidate_id} is {verb}{extra}."))
