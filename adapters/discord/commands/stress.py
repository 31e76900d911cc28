"""/stress (generation): hard cases the model proposes to test the policy, accepted into the round."""

from discord import app_commands

from adapters.discord.commands.base import RUNNING_ROUND, AdapterGroup, Id, Interaction
from bot.domain import commands as c


class StressGroup(AdapterGroup, name="stress", description="Hard cases the model proposes to test the policy"):
    @app_commands.command(name="propose", description="Ask the model for loophole, over-reach and unclear cases (moderators)")
    @app_commands.describe(
        clause="test this clause (default: the whole policy)",
        kinds="comma-separated: loophole, over-reach, unclear (default: all three)",
        n="cases per kind",
        round=RUNNING_ROUND,
    )
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids, clause=AdapterGroup.clause_numbers)
    async def propose(
        self,
        interaction: Interaction,
        round: Id,
        clause: app_commands.Range[int, 1, 200] | None = None,
        kinds: str | None = None,
        n: app_commands.Range[int, 1, 5] = 1,
    ) -> None:
        wanted = tuple(k.strip() for k in (kinds or "").split(",") if k.strip()) or ("loophole", "over-reach", "unclear")
        await self.adapter.run(interaction, lambda a: c.ProposeStressCases(a, round, clause, wanted, n))

    @app_commands.command(name="accept", description="Add a proposed case to its round as a scenario")
    @app_commands.describe(case="the proposed case's number, shown on its post")
    async def accept(self, interaction: Interaction, case: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.AcceptStressCase(a, case))
