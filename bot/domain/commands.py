"""Commands and events the core accepts: frozen dataclasses, each handled by one function.

Adapters build these from platform payloads; the core never sees a platform type. Every command
carries the Actor it acts for; permission facts (is_moderator) are resolved by the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.domain.model import AmendmentKind, BallotChoice, Stance, Turn
from bot.errors import CommandError


@dataclass(frozen=True, slots=True)
class Actor:
    platform: str  # "discord", "slack", "console"
    community: str  # guild or workspace id; all data is scoped to it
    member: str  # platform user id
    display_name: str = ""
    is_moderator: bool = False

    @property
    def name(self) -> str:
        return self.display_name or self.member


@dataclass(frozen=True, slots=True)
class Command:
    actor: Actor
    # the platform's own id of this request (Discord interaction id, Slack trigger_id, a console
    # line's own id): a replayed or redelivered request acts once and gets the first answer again
    request_key: str = field(default="", kw_only=True)


# ---------------------------------------------------------------- policies


@dataclass(frozen=True, slots=True)
class CreatePolicy(Command):
    name: str
    text: str  # plain text or Markdown with numbered clauses


@dataclass(frozen=True, slots=True)
class ShowPolicy(Command):
    name: str
    version: int | None = None  # None: the latest


@dataclass(frozen=True, slots=True)
class PolicyHistory(Command):
    name: str


@dataclass(frozen=True, slots=True)
class DiffPolicy(Command):
    name: str
    from_version: int
    to_version: int


@dataclass(frozen=True, slots=True)
class ListPolicies(Command):
    pass


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True, slots=True)
class AddScenario(Command):
    turns: tuple[Turn, ...]  # ends with a user turn
    title: str = ""


@dataclass(frozen=True, slots=True)
class ListScenarios(Command):
    pass


@dataclass(frozen=True, slots=True)
class RemoveScenario(Command):
    scenario_id: int


@dataclass(frozen=True, slots=True)
class ImportScenarios(Command):
    content: str  # JSONL or text, as read by the adapter from a file or attachment
    format: str = "auto"  # "jsonl", "text" or "auto"


# ---------------------------------------------------------------- rounds


@dataclass(frozen=True, slots=True)
class RoundDefaults:
    """What /round open takes where the member gives nothing: the one place every adapter (the text
    parser, the Discord options and their descriptions, the Slack form) reads them from."""

    k: int = 4
    review: str = "48h"
    amend: str = "24h"
    vote: str = "24h"
    quorum: int = 1
    quorum_share: float = 0.0
    threshold: str = ">1/2"
    bridging_min_voters: int = 0  # 0: no majority required inside each opinion group
    reminders: str = ""  # the bot's default offsets (POLICYBOT_REMINDERS)


ROUND_DEFAULTS = RoundDefaults()


@dataclass(frozen=True, slots=True)
class OpenRound(Command):
    """A phase lasts a length of time (review=48h) or ends at a time (review_ends=…), never both: empty
    means not given, and a phase given neither lasts its default length."""

    policy: str
    channel: str
    scenario_ids: tuple[int, ...]
    version: int | None = None
    k: int = ROUND_DEFAULTS.k
    review: str = ""
    amend: str = ""
    vote: str = ""
    quorum: int = ROUND_DEFAULTS.quorum
    quorum_share: float = ROUND_DEFAULTS.quorum_share
    threshold: str = ROUND_DEFAULTS.threshold
    bridging_min_voters: int = ROUND_DEFAULTS.bridging_min_voters
    # scheduling: explicit end times with a time zone, reminder offsets
    review_ends: str = ""
    amend_ends: str = ""
    vote_ends: str = ""
    reminders: str = ROUND_DEFAULTS.reminders  # "24h,1h" or "none"; empty: the bot's default

    def phase_lengths(self) -> tuple[str, str, str]:
        """The review, amend and vote lengths, each its default where not given. A CommandError where a
        phase has both a length and an end time: every adapter's member gets the same refusal."""
        lengths: list[str] = []
        for phase, length, ends, default in (
            ("review", self.review, self.review_ends, ROUND_DEFAULTS.review),
            ("amend", self.amend, self.amend_ends, ROUND_DEFAULTS.amend),
            ("vote", self.vote, self.vote_ends, ROUND_DEFAULTS.vote),
        ):
            if length and ends.strip():
                raise CommandError(
                    f"The {phase} phase was given a length ({length[:20]}) and an end time ({ends[:60]}): "
                    "give one of the two, not both."
                )
            lengths.append(length or default)
        return lengths[0], lengths[1], lengths[2]


@dataclass(frozen=True, slots=True)
class RoundStatus(Command):
    round_id: int | None = None  # None: the community's latest round


@dataclass(frozen=True, slots=True)
class AdvanceRound(Command):
    round_id: int
    expected_phase: str | None = None  # CAS guard: only advance from this phase


@dataclass(frozen=True, slots=True)
class CancelRound(Command):
    round_id: int


@dataclass(frozen=True, slots=True)
class ContributeResponse(Command):
    """A member's hand-written response to a scenario of a round, stored as a human candidate."""

    round_id: int
    scenario_id: int
    text: str


# ---------------------------------------------------------------- reactions


@dataclass(frozen=True, slots=True)
class RecordReaction(Command):
    """An endorse / object / pass / best reaction added or removed. Exactly one of candidate_id or
    message_key names the target; event_key is the platform's id for this delivery."""

    stance: Stance
    event_key: str
    candidate_id: int | None = None
    message_key: str | None = None
    removed: bool = False
    reason: str = ""  # optional free-text feedback


# ---------------------------------------------------------------- amendments and ballots


@dataclass(frozen=True, slots=True)
class ProposeAmendment(Command):
    round_id: int
    kind: AmendmentKind
    clause: int | None = None  # 1-based clause number; for ADD: insert after it (None = at the end)
    text: str = ""
    rationale: str = ""


@dataclass(frozen=True, slots=True)
class WithdrawAmendment(Command):
    amendment_id: int


@dataclass(frozen=True, slots=True)
class ListAmendments(Command):
    round_id: int


@dataclass(frozen=True, slots=True)
class CastBallot(Command):
    amendment_id: int
    choice: BallotChoice
    event_key: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class PlatformCommands:
    """What one platform offers of the core's commands and how it spells them, for help written for
    that platform (bot.inbound.help). `spelling` maps a core command ("round") or one of its
    subcommands ("stress accept", looked up first) to the platform's spelling ("/round"); a command
    it does not map, or maps to "", is not offered there. `own` is the usage of the platform's own
    commands (handled by its adapter), by topic; `note` ends the overview (how reactions work there)."""

    spelling: Mapping[str, str]
    own: Mapping[str, str] = field(default_factory=dict)
    note: str = ""

    def spelled(self, command: str, subcommand: str = "") -> str:
        """The platform's spelling of `/command [subcommand]`'s start, or "" where it has no such command."""
        found = self.spelling.get(f"{command} {subcommand}".strip()) if subcommand else None
        return found if found is not None else self.spelling.get(command, "")


@dataclass(frozen=True, slots=True)
class Help(Command):
    topic: str = ""
    commands: PlatformCommands | None = None  # None: every command, as the core's text parser reads them


# ---------------------------------------------------------------- generation: retries, stress cases


@dataclass(frozen=True, slots=True)
class RetryScenarios(Command):
    """Moderator: generate candidates again for scenarios of a round that have none (they failed)."""

    round_id: int
    scenario_ids: tuple[int, ...] = ()  # empty: every scenario of the round without model candidates


@dataclass(frozen=True, slots=True)
class ProposeStressCases(Command):
    """Moderator: ask the model for hard cases (loophole, over-reach, unclear) for a round's policy."""

    round_id: int
    clause: int | None = None  # 1-based clause number; None: the whole policy
    kinds: tuple[str, ...] = ("loophole", "over-reach", "unclear")
    per_kind: int = 1


@dataclass(frozen=True, slots=True)
class AcceptStressCase(Command):
    """Any member: accept a proposed stress case into its round as a scenario (candidates follow)."""

    case_id: int


# ---------------------------------------------------------------- scheduling: deadlines, pause, reminders


@dataclass(frozen=True, slots=True)
class ExtendPhase(Command):
    """Moderator: move the current phase's deadline later by a length of time (e.g. 12h)."""

    round_id: int
    by: str


@dataclass(frozen=True, slots=True)
class ShortenPhase(Command):
    """Moderator: move the current phase's deadline earlier by a length of time (it must stay ahead)."""

    round_id: int
    by: str


@dataclass(frozen=True, slots=True)
class SetPhaseEnd(Command):
    """Moderator: end the current phase at a date and time with a time zone."""

    round_id: int
    ends: str


@dataclass(frozen=True, slots=True)
class PausePhase(Command):
    """Moderator: stop the current phase's clock; members can still take part."""

    round_id: int


@dataclass(frozen=True, slots=True)
class ResumePhase(Command):
    """Moderator: restart a paused phase's clock with the time it had left."""

    round_id: int


@dataclass(frozen=True, slots=True)
class SetReminderMessages(Command):
    """Any member: direct-message reminders to vote on (True) or off (False), for them in this community."""

    enabled: bool


# ---------------------------------------------------------------- export and privacy


@dataclass(frozen=True, slots=True)
class ExportData(Command):
    """Moderator: export one round, a policy's rounds or the whole community as a zip in the reply."""

    round_id: int | None = None  # one round
    policy: str | None = None  # every round of this policy; neither: the whole community
    formats: tuple[str, ...] = ("all",)
    parquet: bool = False


@dataclass(frozen=True, slots=True)
class ExportSettings(Command):
    """Moderator: the licence of the community's data, and whether members must consent before export.
    Both None: show the current settings."""

    licence: str | None = None
    consent_required: bool | None = None


@dataclass(frozen=True, slots=True)
class PrivacyShow(Command):
    """Any member: what the bot holds about them in this community."""


@dataclass(frozen=True, slots=True)
class PrivacyExportChoice(Command):
    """Any member: opt out of exports (opt_out=True) or back in; or give / withdraw consent (consent)."""

    opt_out: bool | None = None
    consent: bool | None = None


@dataclass(frozen=True, slots=True)
class PrivacyErase(Command):
    """Any member: erase their data in this community, wherever the bot keeps it (confirm=True to do it)."""

    confirm: bool = False


@dataclass(frozen=True, slots=True)
class PrivacyName(Command):
    """Any member: be credited by her display name on what she writes (named=True), or as "a member"."""

    named: bool = False


@dataclass(frozen=True, slots=True)
class PrivacyAttributes(Command):
    """Any member: self-described attributes, stored only with agree=True; clear=True removes them."""

    attributes: tuple[tuple[str, str], ...] = ()
    agree: bool = False
    clear: bool = False


# ---------------------------------------------------------------- analysis


@dataclass(frozen=True, slots=True)
class RoundResults(Command):
    """Anyone: a round's results so far, aggregates only, with a chart."""

    round_id: int | None = None  # None: the community's latest round


# ---------------------------------------------------------------- precedents and /try


@dataclass(frozen=True, slots=True)
class TryPrompt(Command):
    """Any member, privately: the model's answer to their own prompt under a policy's current version,
    a past version, or the policy as a proposed amendment would make it (amendment_id)."""

    turns: tuple[Turn, ...]
    policy: str | None = None  # None: the amendment's policy, or the community's only policy
    version: int | None = None  # None: the latest
    amendment_id: int | None = None


@dataclass(frozen=True, slots=True)
class KeepTry(Command):
    """The member who tried a prompt adds it as a scenario."""

    try_id: int


@dataclass(frozen=True, slots=True)
class ListPrecedents(Command):
    policy: str | None = None  # None: every policy of the community


@dataclass(frozen=True, slots=True)
class ShowPrecedent(Command):
    precedent_id: int


@dataclass(frozen=True, slots=True)
class RetirePrecedent(Command):
    """Moderator: a precedent is no longer checked (the community meant to change it, or it is out of date)."""

    precedent_id: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PrecedentChecks(Command):
    """Anyone: how an amendment, or a published version (policy and version), fares against each precedent."""

    amendment_id: int | None = None
    policy: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class RecheckPrecedents(Command):
    """Moderator: check an amendment, or a published version, against the precedents again (after a
    failed judge, or once precedents were retired); what was answered before comes from the cache."""

    amendment_id: int | None = None
    policy: str | None = None
    version: int | None = None
