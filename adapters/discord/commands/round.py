"""The slash command tree: one group per area of the core (policy, scenario, round, amend), plus
/vote, /react, /unreact, /help and the adapter's own /settings. Each callback only translates its
typed options into a core command; the adapter defers, dispatches and follows up.

No `from __future__ import annotations` here: discord.py reads these annotations at runtime to
build each option's type, choices and limits."""

import re
from typing import Any, Literal

import discord
from discord import app_commands

from adapters.discord import autocomplete as ac
from adapters.discord.adapter import DiscordAdapter
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import MAX_K, AmendmentKind, BallotChoice, Stance
from bot.domain.outputs import Reply
from bot.domain.turns import turns_from_text
from bot.errors import CommandError
from bot.inbound.help import help_text
from bot.inbound.suggestions import UowFactory

Id = app_commands.Range[int, 1, 999_999_999_999]
Interaction = discord.Interaction[Any]
MAX_UPLOAD = 1_000_000  # bytes of a policy or scenario file read from an attachment
STANCES = Literal["endorse", "object", "pass", "best"]


def adapter_of(interaction: Interaction) -> DiscordAdapter:
    return interaction.client.adapter  # type: ignore[no-any-return]


def community(interaction: Interaction) -> str:
    return str(interaction.guild_id or "")


def _uow(interaction: Interaction) -> UowFactory:
    return adapter_of(interaction).app.engine.services.uow


async def read_attachment(file: discord.Attachment) -> str:
    if file.size > MAX_UPLOAD:
        raise CommandError(f"The file {file.filename} is {file.size:,} bytes; the limit is {MAX_UPLOAD:,}.")
    try:
        return (await file.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"The file {file.filename} is not UTF-8 text.") from None
    except discord.HTTPException as e:
        raise CommandError(f"Could not download {file.filename} from Discord ({e.status}); try again.") from None


def scenario_ids(text: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts or not all(re.fullmatch(r"#?\d{1,12}", p) for p in parts):
        raise CommandError(f"'{text[:60]}' is not a list of scenario numbers: write e.g. 1,2,3 (see /scenario list).")
    return tuple(int(p.lstrip("#")) for p in parts)


async def policy_names(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    return await ac.policies(_uow(interaction), community(interaction), current)


async def round_ids(interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
    return await ac.rounds(_uow(interaction), community(interaction), current)


async def open_round_ids(interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
    return await ac.rounds(_uow(interaction), community(interaction), current, open_only=True)


async def scenario_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
    return await ac.scenarios(_uow(interaction), community(interaction), current)


async def clause_numbers(interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
    round_id = getattr(interaction.namespace, "round", None)
    return await ac.clauses(_uow(interaction), community(interaction), round_id if isinstance(round_id, int) else None, current)


async def amendment_ids(interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
    return await ac.amendments(_uow(interaction), community(interaction), current)


# ---------------------------------------------------------------- /policy


class PolicyGroup(app_commands.Group, name="policy", description="Policies: numbered clauses the model follows"):
    @app_commands.command(name="create", description="Create a policy from numbered clauses (text or a Markdown/text file)")
    @app_commands.describe(
        name="a short name: letters, digits, '-', '_' or '.'",
        text="numbered clauses, e.g. '1. Be kind. 2. Cite sources.'",
        file="a .md or .txt file with one numbered clause per line (instead of text)",
    )
    async def create(
        self,
        interaction: Interaction,
        name: app_commands.Range[str, 1, 64],
        text: app_commands.Range[str, 1, 6000] | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        async def build(actor: Actor) -> c.Command:
            if (text is None) == (file is None):
                raise CommandError("Give the clauses either as text or as a file (one of the two).")
            body = text if text is not None else await read_attachment(file)  # type: ignore[arg-type]
            return c.CreatePolicy(actor, name, body)

        await adapter_of(interaction).run(interaction, build)

    @app_commands.command(name="show", description="Show a policy (the latest version, or the one given)")
    @app_commands.autocomplete(name=policy_names)
    async def show(self, interaction: Interaction, name: str, version: Id | None = None) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ShowPolicy(a, name, version))

    @app_commands.command(name="history", description="A policy's versions and what changed in each")
    @app_commands.autocomplete(name=policy_names)
    async def history(self, interaction: Interaction, name: str) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.PolicyHistory(a, name))

    @app_commands.command(name="diff", description="What changed between two versions of a policy")
    @app_commands.autocomplete(name=policy_names)
    async def diff(self, interaction: Interaction, name: str, from_version: Id, to_version: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.DiffPolicy(a, name, from_version, to_version))

    @app_commands.command(name="list", description="The policies of this server")
    async def list_(self, interaction: Interaction) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ListPolicies(a))


# ---------------------------------------------------------------- /scenario


class ScenarioGroup(app_commands.Group, name="scenario", description="Scenarios: prompts the model must answer under the policy"):
    @app_commands.command(
        name="add", description="Add a scenario: a prompt, or a conversation 'user: … || assistant: … || user: …'"
    )
    @app_commands.describe(prompt="what a user asks the model", title="a short title shown in the round")
    async def add(
        self,
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 6000],
        title: app_commands.Range[str, 1, 120] | None = None,
    ) -> None:
        def build(actor: Actor) -> c.Command:
            return c.AddScenario(actor, turns_from_text(prompt.replace(" || ", "\n")), title or "")

        await adapter_of(interaction).run(interaction, build)

    @app_commands.command(name="list", description="The scenarios of this server")
    async def list_(self, interaction: Interaction) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ListScenarios(a))

    @app_commands.command(name="remove", description="Remove a scenario from future rounds")
    @app_commands.autocomplete(scenario=scenario_choices)
    async def remove(self, interaction: Interaction, scenario: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.RemoveScenario(a, scenario))

    @app_commands.command(name="import", description="Import scenarios from a JSONL or text file")
    @app_commands.describe(file="JSONL with 'prompt' or 'messages', or text with blank-line-separated scenarios")
    async def import_(
        self, interaction: Interaction, file: discord.Attachment, format: Literal["auto", "jsonl", "text"] = "auto"
    ) -> None:
        async def build(actor: Actor) -> c.Command:
            return c.ImportScenarios(actor, await read_attachment(file), format)

        await adapter_of(interaction).run(interaction, build)


# ---------------------------------------------------------------- /round


class RoundGroup(app_commands.Group, name="round", description="Rounds: review → amend → vote on a policy"):
    @app_commands.command(name="open", description="Open a round in this channel (moderators)")
    @app_commands.describe(
        policy="the policy to prototype",
        scenarios="scenario numbers, e.g. 1,2,3",
        k="candidate responses per scenario",
        review="how long members review candidates, e.g. 48h",
        amend="how long members propose amendments, e.g. 24h",
        vote="how long the vote lasts, e.g. 24h",
        quorum="ballots needed for a decision",
        quorum_share="share of the round's participants who must vote, 0 to 1",
        threshold="yes share needed, e.g. >1/2, >=2/3, >=60%",
        version="the policy version (default: the latest)",
        bridging="also require the threshold in every opinion group with at least this many voters (0: off)",
        review_ends="end REVIEW at this time, e.g. 2026-12-01T18:00+01:00 or 2026-12-01T18:00[Europe/Paris]",
        amend_ends="end AMEND at this time (with a time zone)",
        vote_ends="end the vote at this time (with a time zone)",
        reminders="remind before each deadline, e.g. 24h,1h, or none",
    )
    @app_commands.autocomplete(policy=policy_names)
    async def open_(
        self,
        interaction: Interaction,
        policy: str,
        scenarios: str,
        k: app_commands.Range[int, 2, MAX_K] = 4,
        review: str = "48h",
        amend: str = "24h",
        vote: str = "24h",
        quorum: app_commands.Range[int, 1, 100_000] = 1,
        quorum_share: app_commands.Range[float, 0.0, 1.0] = 0.0,
        threshold: str = ">1/2",
        version: Id | None = None,
        bridging: app_commands.Range[int, 0, 10_000] = 0,
        review_ends: str = "",
        amend_ends: str = "",
        vote_ends: str = "",
        reminders: str = "",
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

        await adapter_of(interaction).run(interaction, build)

    @open_.autocomplete("scenarios")
    async def _scenarios(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await ac.scenario_list(_uow(interaction), community(interaction), current)

    @app_commands.command(name="status", description="Where a round stands (default: the latest)")
    @app_commands.autocomplete(round=round_ids)
    async def status(self, interaction: Interaction, round: Id | None = None) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.RoundStatus(a, round))

    @app_commands.command(name="results", description="A round's results so far: aggregates only, with a chart")
    @app_commands.autocomplete(round=round_ids)
    async def results(self, interaction: Interaction, round: Id | None = None) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.RoundResults(a, round))

    @app_commands.command(name="extend", description="Move the current phase's deadline later, e.g. by 12h (moderators)")
    @app_commands.autocomplete(round=open_round_ids)
    async def extend(self, interaction: Interaction, round: Id, by: app_commands.Range[str, 1, 20]) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ExtendPhase(a, round, by))

    @app_commands.command(name="shorten", description="Move the current phase's deadline earlier, e.g. by 2h (moderators)")
    @app_commands.autocomplete(round=open_round_ids)
    async def shorten(self, interaction: Interaction, round: Id, by: app_commands.Range[str, 1, 20]) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ShortenPhase(a, round, by))

    @app_commands.command(name="ends", description="End the current phase at a time with a time zone (moderators)")
    @app_commands.describe(when="e.g. 2026-12-01T18:00+01:00 or 2026-12-01T18:00[Europe/Paris]")
    @app_commands.autocomplete(round=open_round_ids)
    async def ends(self, interaction: Interaction, round: Id, when: app_commands.Range[str, 1, 80]) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.SetPhaseEnd(a, round, when))

    @app_commands.command(name="pause", description="Stop the current phase's clock; members can still take part (moderators)")
    @app_commands.autocomplete(round=open_round_ids)
    async def pause(self, interaction: Interaction, round: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.PausePhase(a, round))

    @app_commands.command(name="resume", description="Restart a paused phase's clock (moderators)")
    @app_commands.autocomplete(round=open_round_ids)
    async def resume(self, interaction: Interaction, round: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ResumePhase(a, round))

    @app_commands.command(name="retry", description="Generate again for scenarios whose candidates failed (moderators)")
    @app_commands.describe(scenarios="scenario numbers, e.g. 2,5 (default: every scenario without candidates)")
    @app_commands.autocomplete(round=open_round_ids)
    async def retry(self, interaction: Interaction, round: Id, scenarios: str | None = None) -> None:
        await adapter_of(interaction).run(
            interaction, lambda a: c.RetryScenarios(a, round, scenario_ids(scenarios) if scenarios else ())
        )

    @app_commands.command(name="advance", description="Move a round to its next phase now (moderators)")
    @app_commands.autocomplete(round=open_round_ids)
    async def advance(self, interaction: Interaction, round: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.AdvanceRound(a, round))

    @app_commands.command(name="cancel", description="Cancel a round; the policy stays as it is (moderators)")
    @app_commands.autocomplete(round=open_round_ids)
    async def cancel(self, interaction: Interaction, round: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.CancelRound(a, round))

    @app_commands.command(name="respond", description="Write your own response to a scenario of a round")
    @app_commands.autocomplete(round=open_round_ids, scenario=scenario_choices)
    async def respond(self, interaction: Interaction, round: Id, scenario: Id, text: app_commands.Range[str, 1, 4000]) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ContributeResponse(a, round, scenario, text))


# ---------------------------------------------------------------- /amend


class AmendGroup(app_commands.Group, name="amend", description="Amendments: propose changes to the policy's clauses"):
    @app_commands.command(name="add", description="Propose a new clause")
    @app_commands.describe(after="insert after this clause number (0 = at the start; default: at the end)")
    @app_commands.autocomplete(round=open_round_ids, after=clause_numbers)
    async def add(
        self,
        interaction: Interaction,
        round: Id,
        text: app_commands.Range[str, 1, 4000],
        after: app_commands.Range[int, 0, 200] | None = None,
        rationale: app_commands.Range[str, 1, 4000] | None = None,
    ) -> None:
        await adapter_of(interaction).run(
            interaction, lambda a: c.ProposeAmendment(a, round, AmendmentKind.ADD, after, text, rationale or "")
        )

    @app_commands.command(name="replace", description="Propose new wording for a clause")
    @app_commands.autocomplete(round=open_round_ids, clause=clause_numbers)
    async def replace(
        self,
        interaction: Interaction,
        round: Id,
        clause: app_commands.Range[int, 1, 200],
        text: app_commands.Range[str, 1, 4000],
        rationale: app_commands.Range[str, 1, 4000] | None = None,
    ) -> None:
        await adapter_of(interaction).run(
            interaction, lambda a: c.ProposeAmendment(a, round, AmendmentKind.REPLACE, clause, text, rationale or "")
        )

    @app_commands.command(name="remove", description="Propose removing a clause")
    @app_commands.autocomplete(round=open_round_ids, clause=clause_numbers)
    async def remove(
        self,
        interaction: Interaction,
        round: Id,
        clause: app_commands.Range[int, 1, 200],
        rationale: app_commands.Range[str, 1, 4000] | None = None,
    ) -> None:
        await adapter_of(interaction).run(
            interaction, lambda a: c.ProposeAmendment(a, round, AmendmentKind.REMOVE, clause, "", rationale or "")
        )

    @app_commands.command(name="withdraw", description="Withdraw your amendment")
    @app_commands.autocomplete(amendment=amendment_ids)
    async def withdraw(self, interaction: Interaction, amendment: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.WithdrawAmendment(a, amendment))

    @app_commands.command(name="list", description="The amendments of a round")
    @app_commands.autocomplete(round=round_ids)
    async def list_(self, interaction: Interaction, round: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ListAmendments(a, round))


# ---------------------------------------------------------------- /stress (generation)


class StressGroup(app_commands.Group, name="stress", description="Hard cases the model proposes to test the policy"):
    @app_commands.command(name="propose", description="Ask the model for loophole, over-reach and unclear cases (moderators)")
    @app_commands.describe(
        clause="test this clause (default: the whole policy)",
        kinds="comma-separated: loophole, over-reach, unclear (default: all three)",
        n="cases per kind",
    )
    @app_commands.autocomplete(round=open_round_ids, clause=clause_numbers)
    async def propose(
        self,
        interaction: Interaction,
        round: Id,
        clause: app_commands.Range[int, 1, 200] | None = None,
        kinds: str | None = None,
        n: app_commands.Range[int, 1, 5] = 1,
    ) -> None:
        wanted = tuple(k.strip() for k in (kinds or "").split(",") if k.strip()) or ("loophole", "over-reach", "unclear")
        await adapter_of(interaction).run(interaction, lambda a: c.ProposeStressCases(a, round, clause, wanted, n))

    @app_commands.command(name="accept", description="Add a proposed case to its round as a scenario")
    async def accept(self, interaction: Interaction, case: Id) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.AcceptStressCase(a, case))


# ---------------------------------------------------------------- /export and /privacy

FORMATS = "trl, trl-standard, kto, openai, polis, community-alignment, events (default: all)"


def _formats(text: str | None) -> tuple[str, ...]:
    return tuple(f.strip().lower() for f in (text or "all").split(",") if f.strip()) or ("all",)


class ExportGroup(
    app_commands.Group,
    name="export",
    description="Research exports as a zip: data, dataset card, checksums (moderators)",
    default_permissions=discord.Permissions(manage_guild=True),
):
    @app_commands.command(name="round", description="Export one round")
    @app_commands.describe(formats=FORMATS, parquet="also write Parquet files")
    @app_commands.autocomplete(round=round_ids)
    async def round_(self, interaction: Interaction, round: Id, formats: str | None = None, parquet: bool = False) -> None:
        await adapter_of(interaction).run(
            interaction, lambda a: c.ExportData(a, round_id=round, formats=_formats(formats), parquet=parquet)
        )

    @app_commands.command(name="policy", description="Export every round of a policy")
    @app_commands.describe(formats=FORMATS, parquet="also write Parquet files")
    @app_commands.autocomplete(name=policy_names)
    async def policy(self, interaction: Interaction, name: str, formats: str | None = None, parquet: bool = False) -> None:
        await adapter_of(interaction).run(
            interaction, lambda a: c.ExportData(a, policy=name, formats=_formats(formats), parquet=parquet)
        )

    @app_commands.command(name="community", description="Export everything in this server")
    @app_commands.describe(formats=FORMATS, parquet="also write Parquet files")
    async def community_(self, interaction: Interaction, formats: str | None = None, parquet: bool = False) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.ExportData(a, formats=_formats(formats), parquet=parquet))

    @app_commands.command(name="settings", description="The data licence, and whether exports need members' consent")
    @app_commands.describe(licence="e.g. CC-BY-4.0", consent="required: only members who consented are exported")
    async def settings(
        self, interaction: Interaction, licence: str | None = None, consent: Literal["required", "optional"] | None = None
    ) -> None:
        required = None if consent is None else consent == "required"
        await adapter_of(interaction).run(interaction, lambda a: c.ExportSettings(a, licence=licence, consent_required=required))


class PrivacyGroup(app_commands.Group, name="privacy", description="Your data in policybot: see it, leave exports, erase it"):
    @app_commands.command(name="show", description="What the bot holds about you, as a file")
    async def show(self, interaction: Interaction) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.PrivacyShow(a))

    @app_commands.command(name="optout", description="Leave your data out of research exports")
    async def optout(self, interaction: Interaction) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.PrivacyExportChoice(a, opt_out=True))

    @app_commands.command(name="optin", description="Take part in research exports again")
    async def optin(self, interaction: Interaction) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.PrivacyExportChoice(a, opt_out=False))

    @app_commands.command(name="consent", description="Give or withdraw consent, where the server exports only with consent")
    async def consent(self, interaction: Interaction, answer: Literal["yes", "no"]) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.PrivacyExportChoice(a, consent=answer == "yes"))

    @app_commands.command(name="attributes", description="Optional self-description, used only in aggregate")
    @app_commands.describe(agree="store what you give here", clear="remove what you gave before")
    async def attributes(
        self,
        interaction: Interaction,
        agree: bool = False,
        clear: bool = False,
        country: app_commands.Range[str, 1, 64] | None = None,
        age: app_commands.Range[str, 1, 16] | None = None,
        gender: app_commands.Range[str, 1, 64] | None = None,
        language: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        given = {"country": country, "age": age, "gender": gender, "language": language}
        pairs = tuple((k, v) for k, v in given.items() if v is not None)
        await adapter_of(interaction).run(interaction, lambda a: c.PrivacyAttributes(a, pairs, agree=agree, clear=clear))

    @app_commands.command(name="erase", description="Delete your reactions, ballots and free text in this server")
    @app_commands.describe(confirm="True to erase; without it you see what would be erased")
    async def erase(self, interaction: Interaction, confirm: bool = False) -> None:
        await adapter_of(interaction).run(interaction, lambda a: c.PrivacyErase(a, confirm=confirm))


# ---------------------------------------------------------------- /settings (the adapter's own)


class SettingsGroup(
    app_commands.Group,
    name="settings",
    description="policybot settings for this server",
    default_permissions=discord.Permissions(manage_guild=True),
):
    @app_commands.command(name="moderator-role", description="Members with this role are moderators (server owner only)")
    @app_commands.describe(role="the role; leave empty to clear it (Manage Server still makes a moderator)")
    async def moderator_role(self, interaction: Interaction, role: discord.Role | None = None) -> None:
        adapter = adapter_of(interaction)

        async def compute() -> Reply:
            guild = interaction.guild
            if guild is None or interaction.guild_id is None or guild.owner_id is None:
                return Reply("Could not check who owns this server yet; try again in a minute.", ok=False)
            if guild.owner_id != interaction.user.id:
                return Reply("Only the server owner can choose the moderator role.", ok=False)
            await adapter.moderators.set_role(interaction.guild_id, role.id if role else None, interaction.user.id)
            if role is None:
                return Reply("Cleared the moderator role: only members with Manage Server are policybot moderators.")
            return Reply(f"Members with the role {role.name} are now policybot moderators, besides those with Manage Server.")

        await adapter.answer(interaction, compute)

    @app_commands.command(name="show", description="Who counts as a moderator here")
    async def show(self, interaction: Interaction) -> None:
        adapter = adapter_of(interaction)

        async def compute() -> Reply:
            role_id = await adapter.moderators.role_for(interaction.guild_id or 0)
            role = f"<@&{role_id}>" if role_id else "none"
            return Reply(f"Moderators: members with Manage Server, and members with the role {role}.")

        await adapter.answer(interaction, compute)


# ---------------------------------------------------------------- single commands


@app_commands.command(name="vote", description="Cast or change your ballot on an amendment (secret until the vote closes)")
@app_commands.autocomplete(amendment=amendment_ids)
async def vote(interaction: Interaction, amendment: Id, choice: Literal["yes", "no", "abstain"]) -> None:
    key = f"discord:interaction:{interaction.id}"
    await adapter_of(interaction).run(interaction, lambda a: c.CastBallot(a, amendment, BallotChoice(choice), event_key=key))


@app_commands.command(name="react", description="Give your stance on a candidate, with an optional reason")
async def react(
    interaction: Interaction, candidate: Id, stance: STANCES, reason: app_commands.Range[str, 1, 4000] | None = None
) -> None:
    key = f"discord:interaction:{interaction.id}"
    await adapter_of(interaction).run(
        interaction, lambda a: c.RecordReaction(a, Stance(stance), event_key=key, candidate_id=candidate, reason=reason or "")
    )


@app_commands.command(name="unreact", description="Take back your stance on a candidate")
async def unreact(interaction: Interaction, candidate: Id, stance: STANCES) -> None:
    key = f"discord:interaction:{interaction.id}"
    await adapter_of(interaction).run(
        interaction, lambda a: c.RecordReaction(a, Stance(stance), event_key=key, candidate_id=candidate, removed=True)
    )


@app_commands.command(name="reminders", description="Direct-message reminders to vote: on or off, for you in this server")
async def reminders(interaction: Interaction, setting: Literal["on", "off"]) -> None:
    await adapter_of(interaction).run(interaction, lambda a: c.SetReminderMessages(a, setting == "on"))


HelpTopic = Literal["policy", "scenario", "round", "stress", "react", "amend", "vote", "reminders", "export", "privacy"]


@app_commands.command(name="help", description="How to use policybot")
async def help_(interaction: Interaction, topic: HelpTopic | None = None) -> None:
    async def compute() -> Reply:
        text = help_text(topic or "")
        if topic is None:
            text += (
                "\n\nOn Discord, react to candidates with 👍 👎 🤷, press ⭐ for the best of a scenario, and vote with "
                "the buttons under each amendment. Moderators: members with Manage Server or the role set in /settings."
            )
        return Reply(text)

    await adapter_of(interaction).answer(interaction, compute)


def add_commands(tree: app_commands.CommandTree[Any]) -> None:
    """Register every command on the tree (called once per client, never at import)."""
    groups = (PolicyGroup(), ScenarioGroup(), RoundGroup(), AmendGroup(), StressGroup(), ExportGroup(), PrivacyGroup())
    for group in (*groups, SettingsGroup()):
        tree.add_command(group)
    commands: tuple[app_commands.Command[Any, ..., None], ...] = (vote, react, unreact, reminders, help_)
    for command in commands:
        tree.add_command(command)
