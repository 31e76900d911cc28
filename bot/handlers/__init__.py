"""Every command the engine accepts, and the one function that handles it.

A handler takes its command and the Services and returns an Outcome (the reply, posts to publish
after its commit, edits); a CommandError it raises becomes a private ✗ reply with nothing changed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain import commands as c
from bot.domain.outputs import Outcome
from bot.handlers import (
    amendments,
    deadlines,
    export,
    help,
    policies,
    precedents,
    privacy,
    reactions,
    results,
    rounds,
    scenarios,
    stress,
    try_prompt,
)
from bot.services import Services

Handler = Callable[[Any, Services], Awaitable[Outcome]]

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
    c.RetryScenarios: rounds.retry_scenarios,
    c.RecordReaction: reactions.record_reaction,
    c.ProposeAmendment: amendments.propose_amendment,
    c.WithdrawAmendment: amendments.withdraw_amendment,
    c.ListAmendments: amendments.list_amendments,
    c.CastBallot: amendments.cast_ballot,
    c.ProposeStressCases: stress.propose_stress_cases,
    c.AcceptStressCase: stress.accept_stress_case,
    c.ExtendPhase: deadlines.extend_phase,
    c.ShortenPhase: deadlines.shorten_phase,
    c.SetPhaseEnd: deadlines.set_phase_end,
    c.PausePhase: deadlines.pause_phase,
    c.ResumePhase: deadlines.resume_phase,
    c.SetReminderMessages: deadlines.set_reminder_messages,
    c.RoundResults: results.round_results,
    c.ExportData: export.export_data,
    c.ExportSettings: export.export_settings,
    c.PrivacyShow: privacy.privacy_show,
    c.PrivacyExportChoice: privacy.privacy_export_choice,
    c.PrivacyErase: privacy.privacy_erase,
    c.PrivacyAttributes: privacy.privacy_attributes,
    c.PrivacyName: privacy.privacy_name,
    c.Help: help.show_help,
    # precedents and /try
    c.TryPrompt: try_prompt.try_prompt,
    c.KeepTry: try_prompt.keep_try,
    c.ListPrecedents: precedents.list_precedents,
    c.ShowPrecedent: precedents.show_precedent,
    c.RetirePrecedent: precedents.retire_precedent,
    c.PrecedentChecks: precedents.precedent_checks,
    c.RecheckPrecedents: precedents.recheck_precedents,
}
