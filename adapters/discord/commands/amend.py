"""/amend: propose, withdraw and list changes to the policy's clauses."""

from discord import app_commands

from adapters.discord.commands.base import RATIONALE, RUNNING_ROUND, AdapterGroup, Id, Interaction
from bot.domain import commands as c
from bot.domain.model import AmendmentKind


class AmendGroup(AdapterGroup, name="amend", description="Amendments: propose changes to the policy's clauses"):
    @app_commands.command(name="add", description="Propose a new clause")
    @app_commands.describe(
        after="insert after this clause number (0 = at the start; default: at the end)",
        round=RUNNING_ROUND,
        text="the new clause's wording",
        rationale=RATIONALE,
    )
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids, after=AdapterGroup.clause_numbers)
    async def add(
        self,
        interaction: Interaction,
        round: Id,
        text: app_commands.Range[str, 1, 4000],
        after: app_commands.Range[int, 0, 200] | None = None,
        rationale: app_commands.Range[str, 1, 4000] | None = None,
    ) -> None:
        await self.adapter.run(
            interaction, lambda a: c.ProposeAmendment(a, round, AmendmentKind.ADD, after, text, rationale or "")
        )

    @app_commands.command(name="replace", description="Propose new wording for a clause")
    @app_commands.describe(
        round=RUNNING_ROUND, clause="the number of the clause to reword", text="the clause's new wording", rationale=RATIONALE
    )
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids, clause=AdapterGroup.clause_numbers)
    async def replace(
        self,
        interaction: Interaction,
        round: Id,
        clause: app_commands.Range[int, 1, 200],
        text: app_commands.Range[str, 1, 4000],
        rationale: app_commands.Range[str, 1, 4000] | None = None,
    ) -> None:
        await self.adapter.run(
            interaction, lambda a: c.ProposeAmendment(a, round, AmendmentKind.REPLACE, clause, text, rationale or "")
        )

    @app_commands.command(name="remove", description="Propose removing a clause")
    @app_commands.describe(round=RUNNING_ROUND, clause="the number of the clause to remove", rationale=RATIONALE)
    @app_commands.autocomplete(round=AdapterGroup.open_round_ids, clause=AdapterGroup.clause_numbers)
    async def remove(
        self,
        interaction: Interaction,
        round: Id,
        clause: app_commands.Range[int, 1, 200],
        rationale: app_commands.Range[str, 1, 4000] | None = None,
    ) -> None:
        await self.adapter.run(
            interaction, lambda a: c.ProposeAmendment(a, round, AmendmentKind.REMOVE, clause, "", rationale or "")
        )

    @app_commands.command(name="withdraw", description="Withdraw your amendment")
    @app_commands.describe(amendment="the number of your amendment (see /amend list)")
    @app_commands.autocomplete(amendment=AdapterGroup.amendment_ids)
    async def withdraw(self, interaction: Interaction, amendment: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.WithdrawAmendment(a, amendment))

    @app_commands.command(name="list", description="The amendments of a round")
    @app_commands.describe(round="the round's number (see /round status)")
    @app_commands.autocomplete(round=AdapterGroup.round_ids)
    async def list_(self, interaction: Interaction, round: Id) -> None:
        await self.adapter.run(interaction, lambda a: c.ListAmendments(a, round))
