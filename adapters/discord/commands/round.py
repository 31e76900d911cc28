"""/round: open a round, see where it stands, move its phases and deadlines, contribute a response.

`/round open`'s defaults are the core's (bot/domain/commands.ROUND_DEFAULTS), named in the option
descriptions; a phase given both a length and an end time is refused by the core, as on every platform."""

import discord
from discord import app_commands

from adapters.discord.commands.base import RUNNING_ROUND, AdapterGroup, Id, Interaction, scenario_ids
from bot.domain import commands as c
from bot.domain.commands import ROUND_DEFAULTS as D
from bot.domain.commands import Actor
from bot.domain.model import MAX_K
from bot.errors import CommandError


class RoundGroup(AdapterGroup, name="round", description="Rounds: review → amend → vote on a policy"):
    @app_commands.command(name="open", description="Open a round in this channel (moderators)")
    @app_commands.describe(
        policy="the policy to prototype",
        scenarios="scenario numbers, e.g. 1,2,3",
        k=f"candidate responses per scenario (default {D.k})",
        review=f"how long members review candidates (default {D.review})",
        amend=f"how long members propose amendments (default {D.amend})",
        vote=f"how long the vote lasts (default {D.vote})",
        quorum=f"ballots needed for a decision (default {D.quorum})",
        quorum_share=f"share of the round's participants who must vote, 0 to 1 (default {D.quorum_share:g})",
        threshold=f"yes share needed, e.g. >=2/3 or >=60% (default {D.threshold})",
        version="the policy version (default: the latest)",
        bridging="require the threshold in every opinion group of at least this many voters "
        f"(default {D.bridging_min_voters}: off)",
        review_ends="end REVIEW at this time, e.g. 2026-12-01T18:00+01:00 or 2026-12-01T18:00[Europe/Paris]",
        amend_ends="end AMEND at this time (with a time zone)",
        vote_ends="end the vote at this time (with a time zone)",
        reminders="remind before each deadline, e.g. 24h,1h, or none",
    )
    @app_commands.autocomplete(policy=AdapterGroup.policy_names, scenarios=AdapterGroup.scenario_lists)
    async def open_(
        self,
        interaction: Interaction,
        policy: str,
        scenarios: str,
        k: app_commands.Range[int, 2, MAX_K] = D.k,
        review: str = "",
        amend: str = "",
        vote: str = "",
        quorum: app_commands.Range[int, 1, 100_000] = D.quorum,
        quorum_share: app_commands.Range[float, 0.0, 1.0] = D.quorum_share,
        threshold: str = D.threshold,
        version: Id | None = None,
        bridging: app_commands.Range[int, 0, 10_000] = D.bridging_min_voters,
        review_ends: str = "",
        amend_ends: str = "",
        vote_ends: str = "",
        reminders: str = D.reminders,
    ) -> None:
        def build(actor: Actor) -> c.Command:
            if isinstance(interaction.channel, discord.Thread):
                raise CommandError("Open rounds in a text channel, not in a thread: each scenario gets its own thread.")
            return c.OpenRound(
                actor,
                policy,
                str(interaction.channel_id or ""),
                scenario_ids(scenarios),
                version=version,
                k=k,
                review=review,
                amend=amend,
                vote=vote,
                quorum=quorum,
                quorum_share=quorum_share,
                threshold=threshold,
                bridging_min_voters=bridging,
                review_ends=review_ends,
                amend_ends=amend_ends,
                vote_ends=vote_ends,
                reminders=reminders,
            )

        await self.adapter.run(interaction, build)

    @app_commands.command(name="status", description="Where a round stands (default: the latest)")
    @app_commands.describe(round="the round's number (default: the latest)")
    @app_commands.autocomplete(round=AdapterGroup.round_ids)
    async def status(self, interaction: Interaction, round: Id | None = None) -> None:
        await self.adapter.run(interaction, lambda a: c.RoundStatus(a, round))

    @app_commands.command(name="results", description="A round's results so far: aggregates only, with a chart")
    @app_commands.describe(round="the round's number (default: the latest)")
    @app_commands.autocomplete(round=AdapterGroup.round_ids)
    async def results(self, interaction: Interaction, round: Id | None = None) -> None:
        await self.adapter.run(interaction, lambda a: c.RoundResults(a, round))

    @app_commands.command(name="extend", description="Move the current phase's deadline later, e.g. by 12h (moderators)")
    @app_commands.describe(round=RUNNING_ROUND, by="how much later, e.g. 12h, 2d or 90m")
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids)
    async def extend(self, interaction: Interaction, round: Id, by: app_commands.Range[str, 1, 20]) -> None:
        await self.adapter.run(interaction, lambda a: c.ExtendPhase(a, round, by))

    @app_commands.command(name="shorten", description="Move the current phase's deadline earlier, e.g. by 2h (moderators)")
    @app_commands.describe(round=RUNNING_ROUND, by="how much earlier, e.g. 2h or 30m")
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids)
    async def shorten(self, interaction: Interaction, round: Id, by: app_commands.Range[str, 1, 20]) -> None:
        await self.adapter.run(interaction, lambda a: c.ShortenPhase(a, round, by))

    @app_commands.command(name="ends", description="End the current phase at a time with a time zone (moderators)")
    @app_commands.describe(when="e.g. 2026-12-01T18:00+01:00 or 2026-12-01T18:00[Europe/Paris]", round=RUNNING_ROUND)
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids)
    async def ends(self, interaction: Interaction, round: Id, when: app_commands.Range[str, 1, 80]) -> None:
        await self.adapter.run(interaction, lambda a: c.SetPhaseEnd(a, round, when))

    @app_commands.command(name="pause", description="Stop the current phase's clock; members can still take part (moderators)")
    @app_commands.describe(round=RUNNING_ROUND)
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids)
    async def pause(self, interaction: Interaction, round: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.PausePhase(a, round))

    @app_commands.command(name="resume", description="Restart a paused phase's clock (moderators)")
    @app_commands.describe(round=RUNNING_ROUND)
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids)
    async def resume(self, interaction: Interaction, round: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.ResumePhase(a, round))

    @app_commands.command(name="retry", description="Generate again for scenarios whose candidates failed (moderators)")
    @app_commands.describe(
        scenarios="scenario numbers, e.g. 2,5 (default: every scenario without candidates)", round=RUNNING_ROUND
    )
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids)
    async def retry(self, interaction: Interaction, round: Id, scenarios: str | None = None) -> None:
        await self.adapter.run(interaction, lambda a: c.RetryScenarios(a, round, scenario_ids(scenarios) if scenarios else ()))

    @app_commands.command(name="advance", description="Move a round to its next phase now (moderators)")
    @app_commands.describe(round=RUNNING_ROUND)
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids)
    async def advance(self, interaction: Interaction, round: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.AdvanceRound(a, round))

    @app_commands.command(name="cancel", description="Cancel a round; the policy stays as it is (moderators)")
    @app_commands.describe(round=RUNNING_ROUND)
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids)
    async def cancel(self, interaction: Interaction, round: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.CancelRound(a, round))

    @app_commands.command(name="respond", description="Write your own response to a scenario of a round")
    @app_commands.describe(
        round=RUNNING_ROUND,
        scenario="the scenario's number in that round",
        text="your own response to the scenario, as the model should have answered",
    )
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids, scenario=AdapterGroup.scenario_choices)
    async def respond(self, interaction: Interaction, round: Id, scenario: Id, text: app_commands.Range[str, 1, 4000]) -> None:
        await self.adapter.run(interaction, lambda a: c.ContributeResponse(a, round, scenario, text))
