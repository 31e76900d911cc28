"""`/round results`: anyone, at any time; aggregates only, with a chart."""

from __future__ import annotations

from bot.analysis.loading import compute, keep, load_for_analysis
from bot.analysis.results import STAGE_TITLE, _chart, results_fields
from bot.domain.commands import RoundResults
from bot.domain.model import Phase
from bot.domain.outputs import Outcome, Reply
from bot.errors import CommandError
from bot.rounds.queries import get_round, latest_round
from bot.services import Services


async def round_results(cmd: RoundResults, svc: Services) -> Outcome:
    """/round results [round]: anyone, any time after candidates are out."""
    async with svc.uow() as uow:
        s = uow.session
        r = await (get_round(s, cmd.actor.community, cmd.round_id) if cmd.round_id else latest_round(s, cmd.actor.community))
        if r.phase == Phase.OPENING.value:
            raise CommandError(f"Round #{r.id} is still generating its candidates; results follow once members react.")
        assert r.id is not None
        prepared = await load_for_analysis(s, r.id, review_only=False)
    a = await compute(prepared)
    await keep(svc.uow, a, svc.now())  # what the next recomputation starts from
    headline, fields = results_fields(a)
    stage = "final" if r.phase in (Phase.CLOSED.value, Phase.CANCELLED.value) else "now"
    return Outcome(Reply(f"Round #{r.id}: {STAGE_TITLE[stage]}\n{headline}", fields=fields, attachment=await _chart(a)))
