"""The engine: dispatches each command to its one handler, publishes the resulting posts, and
turns every CommandError into a private error reply with nothing changed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot import commands as c
from bot import generation, privacy, stress
from bot.analysis import results as analysis_results
from bot.errors import CommandError
from bot.export import handlers as export_handlers
from bot.handlers import amendments, policies, rounds, scenarios, schedule
from bot.help import help_text
from bot.ingest import ReactionRecorder
from bot.outputs import Outcome, Reply
from bot.publishing import publish_all
from bot.services import Services

log = logging.getLogger("policybot.engine")

Handler = Callable[[Any, Services], Awaitable[Outcome]]


async def _help(cmd: c.Help, svc: Services) -> Outcome:
    return Outcome(Reply(help_text(cmd.topic)))


HANDLERS: dict[type[c.Command], Handler] = {
    c.CreatePolicy: policies.create_policy,
    c.ShowPolicy: policies.show_policy,
    c.PolicyHistory: policies.policy_history,
    c.DiffPolicy: policies.diff_policy,
    c.ListPolicies: policies.list_policies,
    c.AddScenario: scenarios.add_scenario,
    c.ListScenarios: scenarios.list_scenarios,
    c.RemoveScenario: scenarios.remove_scenario,
    c.ImportScenarios: scenarios.import_scenarios,
    c.OpenRound: rounds.open_round,
    c.RoundStatus: rounds.round_status,
    c.AdvanceRound: rounds.advance_round,
    c.CancelRound: rounds.cancel_round,
    c.ContributeResponse: rounds.contribute_response,
    c.ProposeAmendment: amendments.propose_amendment,
    c.WithdrawAmendment: amendments.withdraw_amendment,
    c.ListAmendments: amendments.list_amendments,
    c.CastBallot: amendments.cast_ballot,
    c.Help: _help,
    # generation (issue 3)
    c.RetryScenarios: generation.retry_scenarios,
    c.ProposeStressCases: stress.propose_stress_cases,
    c.AcceptStressCase: stress.accept_stress_case,
    # scheduling (issue 6)
    c.ExtendPhase: schedule.extend_phase,
    c.ShortenPhase: schedule.shorten_phase,
    c.SetPhaseEnd: schedule.set_phase_end,
    c.PausePhase: schedule.pause_phase,
    c.ResumePhase: schedule.resume_phase,
    c.SetReminderMessages: schedule.set_reminder_messages,
    # analysis (issue 7)
    c.RoundResults: analysis_results.round_results,
    # export and privacy (issue 8)
    c.ExportData: export_handlers.export_data,
    c.ExportSettings: export_handlers.export_settings,
    c.PrivacyShow: privacy.privacy_show,
    c.PrivacyExportChoice: privacy.privacy_export_choice,
    c.PrivacyErase: privacy.privacy_erase,
    c.PrivacyAttributes: privacy.privacy_attributes,
}


class Engine:
    def __init__(self, services: Services, recorder: ReactionRecorder) -> None:
        self.services = services
        self.recorder = recorder
        services.reactions_settled = recorder.flush
        self.handlers: dict[type[c.Command], Handler] = dict(HANDLERS)

    def register(self, command: type[c.Command], handler: Handler) -> None:
        """Later modules (analysis, export, scheduling) add their commands here, from bootstrap()."""
        self.handlers[command] = handler

    async def dispatch(self, cmd: c.Command) -> Reply:
        """Handle one command. Adapters acknowledge the platform first, then call this."""
        if isinstance(cmd, c.RecordReaction):
            return await self._reaction(cmd)
        handler = self.handlers.get(type(cmd))
        if handler is None:
            return Reply(f"Unknown command {type(cmd).__name__}.", ok=False)
        try:
            outcome = await handler(cmd, self.services)
        except CommandError as e:
            return Reply(e.message, ok=False)
        except Exception:
            log.exception("command %s failed", type(cmd).__name__)
            return Reply("Something went wrong on our side; nothing was changed. The error is in the bot's log.", ok=False)
        await publish_all(self.services, outcome.posts)
        for key, post in outcome.edits:
            await self.services.chat.edit(key, post)
        return outcome.reply

    async def _reaction(self, cmd: c.RecordReaction) -> Reply:
        try:
            done = await self.recorder.record(cmd)
        except CommandError as e:
            return Reply(e.message, ok=False)
        except Exception:  # the batch holding this event did not commit: it is not recorded
            log.exception("reaction %s not recorded", cmd.event_key)
            return Reply("Your reaction could not be recorded just now; please react again.", ok=False)
        verb = "removed" if cmd.removed else "recorded"
        extra = " (already recorded)" if done.duplicate else ""
        return Reply(f"Your {cmd.stance.value} on candidate #{done.candidate_id} is {verb}{extra}.")

    async def drain(self) -> None:
        await self.services.drain()

    async def close(self) -> None:
        await self.services.drain()
        await self.recorder.close()
        await self.services.appender.close()
