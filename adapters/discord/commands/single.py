"""The commands outside any group: /vote, /react, /unreact, /reminders and /help, built for one
adapter (each callback closes over it)."""

from typing import Any, Literal

from discord import app_commands

from adapters.discord import autocomplete as ac
from adapters.discord.adapter import DiscordAdapter, interaction_key
from adapters.discord.commands.base import STANCES, Id, Interaction, community
from bot.domain import commands as c
from bot.domain.commands import PlatformCommands
from bot.domain.model import BallotChoice, Stance
from bot.domain.outputs import Reply
from bot.inbound.help import help_text

HelpTopic = Literal[
    "policy", "scenario", "round", "stress", "react", "amend", "vote", "reminders", "export", "privacy", "try", "precedent"
]
# What Discord offers of the core's commands (the tree these modules build) and how it spells them.
DISCORD_COMMANDS = PlatformCommands(
    spelling={
        "help": "/help",
        "policy": "/policy",
        "scenario": "/scenario",
        "round": "/round",
        "stress": "/stress propose",
        "stress accept": "/stress accept",
        "react": "/react",
        "unreact": "/unreact",
        "amend": "/amend",
        "vote": "/vote",
        "reminders": "/reminders",
        "export": "/export",
        "privacy": "/privacy",
        "try": "/try",
        "try keep": "/try keep:",  # an option of /try, not a subcommand
        "precedent": "/precedent",
    },
    own={
        "settings": (
            "/settings moderator-role [role]   (the server owner: members with this role are moderators too)\n"
            "/settings show   (who counts as a moderator here)"
        )
    },
    note=(
        "\n\nOn Discord, react to candidates with 👍 👎 🤷, press ⭐ for the best of a scenario, and vote with "
        "the buttons under each amendment. Moderators: members with Manage Server or the role set in /settings."
    ),
)

CANDIDATE = "the candidate's number, shown on its post (#…)"
STANCE = "endorse 👍, object 👎, pass 🤷, or best ⭐ of its scenario"
SingleCommand = app_commands.Command[Any, ..., None]


def single_commands(adapter: DiscordAdapter) -> tuple[SingleCommand, ...]:
    async def amendment_ids(interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        return await ac.amendments(adapter.app.engine.services.uow, community(interaction), current)

    @app_commands.command(name="vote", description="Cast or change your ballot on an amendment (secret until the vote closes)")
    @app_commands.describe(amendment="the amendment's number, shown on its ballot post", choice="your ballot")
    @app_commands.autocomplete(amendment=amendment_ids)
    async def vote(interaction: Interaction, amendment: Id, choice: Literal["yes", "no", "abstain"]) -> None:
        key = interaction_key(interaction)
        await adapter.run(interaction, lambda a: c.CastBallot(a, amendment, BallotChoice(choice), event_key=key))

    @app_commands.command(name="react", description="Give your stance on a candidate, with an optional reason")
    @app_commands.describe(
        candidate=CANDIDATE, stance=STANCE, reason="why: it is kept with your stance and helps draft amendments"
    )
    async def react(
        interaction: Interaction, candidate: Id, stance: STANCES, reason: app_commands.Range[str, 1, 4000] | None = None
    ) -> None:
        key = interaction_key(interaction)
        await adapter.run(
            interaction,
            lambda a: c.RecordReaction(a, Stance(stance), event_key=key, candidate_id=candidate, reason=reason or ""),
        )

    @app_commands.command(name="unreact", description="Take back your stance on a candidate")
    @app_commands.describe(candidate=CANDIDATE, stance="the stance to take back")
    async def unreact(interaction: Interaction, candidate: Id, stance: STANCES) -> None:
        key = interaction_key(interaction)
        await adapter.run(
            interaction, lambda a: c.RecordReaction(a, Stance(stance), event_key=key, candidate_id=candidate, removed=True)
        )

    @app_commands.command(name="reminders", description="Direct-message reminders to vote: on or off, for you in this server")
    @app_commands.describe(setting="on: direct messages before a vote closes while you have not voted; off: none")
    async def reminders(interaction: Interaction, setting: Literal["on", "off"]) -> None:
        await adapter.run(interaction, lambda a: c.SetReminderMessages(a, setting == "on"))

    @app_commands.command(name="help", description="How to use policybot")
    @app_commands.describe(topic="a group of commands (default: an overview of them all)")
    async def help_(interaction: Interaction, topic: HelpTopic | None = None) -> None:
        async def compute() -> Reply:
            return Reply(help_text(topic or "", DISCORD_COMMANDS))

        await adapter.answer(interaction, compute)

    return vote, react, unreact, reminders, help_
