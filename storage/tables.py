"""SQLModel tables. Every row carries or reaches its community; events are append-only.

Migrations in storage/migrations must match these (tests/integration/test_migrations.py checks).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint, func, text
from sqlalchemy import DateTime as SADateTime
from sqlmodel import Field, SQLModel


def _ts() -> Column:  # type: ignore[type-arg]
    return Column(SADateTime(timezone=True), nullable=False)


def _ts_opt() -> Column:  # type: ignore[type-arg]
    return Column(SADateTime(timezone=True), nullable=True)


class PolicyRow(SQLModel, table=True):
    __tablename__ = "policy"
    __table_args__ = (UniqueConstraint("community", "name", name="uq_policy_community_name"),)

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    name: str = Field(max_length=64)
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=_ts())
    next_clause_number: int = Field(default=1)  # source of stable clause keys "c1", "c2", …


class PolicyVersionRow(SQLModel, table=True):
    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("policy_id", "version", name="uq_policy_version"),)

    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    version: int
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=_ts())
    changelog: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    source_round_id: int | None = Field(default=None)


class ClauseRow(SQLModel, table=True):
    __tablename__ = "clause"
    __table_args__ = (UniqueConstraint("policy_version_id", "position", name="uq_clause_position"),)

    id: int | None = Field(default=None, primary_key=True)
    policy_version_id: int = Field(foreign_key="policy_version.id", index=True)
    position: int  # 1-based
    clause_key: str = Field(max_length=16)  # stable across versions
    text: str = Field(sa_column=Column(Text, nullable=False))


class ScenarioRow(SQLModel, table=True):
    __tablename__ = "scenario"

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    title: str = Field(default="", max_length=200)
    turns_json: str = Field(sa_column=Column(Text, nullable=False))  # [{"role", "content"}, …]
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=_ts())
    removed: bool = Field(default=False)  # soft: rounds that used it keep it


# the phases of a round that is still running (bot.handlers.rounds.ACTIVE)
RUNNING_PHASES = "phase IN ('opening', 'review', 'amend', 'vote')"


class RoundRow(SQLModel, table=True):
    __tablename__ = "round"
    __table_args__ = (
        # One running round per policy, enforced by the database: two /round open at the same moment
        # both pass the handler's check, and the second then fails here instead of running twice.
        Index(
            "uq_round_running_per_policy",
            "policy_id",
            unique=True,
            sqlite_where=text(RUNNING_PHASES),
            postgresql_where=text(RUNNING_PHASES),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    platform: str = Field(max_length=32)
    channel: str = Field(max_length=128)
    policy_version_id: int = Field(foreign_key="policy_version.id")
    policy_id: int | None = Field(default=None)  # the policy of policy_version_id, for the index above
    phase: str = Field(max_length=16, index=True)
    k: int
    opened_by: str = Field(max_length=128)
    opened_at: datetime = Field(sa_column=_ts())
    phase_changed_at: datetime = Field(sa_column=_ts())
    review_seconds: int
    amend_seconds: int
    vote_seconds: int
    phase_ends_at: datetime | None = Field(default=None, sa_column=_ts_opt())
    paused_remaining_seconds: int | None = Field(default=None)  # set while a phase is paused
    quorum_count: int = Field(default=1)
    quorum_share: float = Field(default=0.0)
    threshold: str = Field(default="1/2", max_length=16)  # a Fraction as text
    threshold_inclusive: bool = Field(default=False)
    bridging_min_voters: int = Field(default=0)
    announcement_key: str | None = Field(default=None, max_length=256)
    result_version_id: int | None = Field(default=None)
    closed_at: datetime | None = Field(default=None, sa_column=_ts_opt())
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class RoundScenarioRow(SQLModel, table=True):
    __tablename__ = "round_scenario"
    __table_args__ = (UniqueConstraint("round_id", "scenario_id", name="uq_round_scenario"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    scenario_id: int = Field(foreign_key="scenario.id")
    position: int
    thread_key: str | None = Field(default=None, max_length=256)


class CandidateRow(SQLModel, table=True):
    __tablename__ = "candidate"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    scenario_id: int = Field(foreign_key="scenario.id")
    amendment_id: int | None = Field(default=None, index=True)  # set for an amendment preview
    position: int  # 0-based within (round, scenario, amendment): label A, B, …
    text: str = Field(sa_column=Column(Text, nullable=False))
    author_kind: str = Field(max_length=16)  # "model" or "human"
    author_member: str | None = Field(default=None, max_length=128)
    model: str = Field(default="", max_length=200)
    method: str = Field(default="", max_length=32)  # "independent", "negatively-correlated", "human"
    temperature: float | None = Field(default=None)
    prompt_version: str = Field(default="", max_length=32)
    prompt_hash: str = Field(default="", max_length=64)
    settings_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    created_at: datetime = Field(sa_column=_ts())
    message_key: str | None = Field(default=None, max_length=256, index=True)


class ReactionEventRow(SQLModel, table=True):
    """Raw reaction events, append-only; ratings and comparisons are derived from them."""

    __tablename__ = "reaction_event"
    __table_args__ = (
        UniqueConstraint("community", "event_key", name="uq_reaction_event_key"),
        Index("ix_reaction_event_round_member", "round_id", "member"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128)
    round_id: int = Field(foreign_key="round.id")
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    member: str = Field(max_length=128)
    stance: str = Field(max_length=16)
    action: str = Field(max_length=8)  # "add" or "remove"
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    event_key: str = Field(max_length=200)
    at: datetime = Field(sa_column=_ts())


class AmendmentRow(SQLModel, table=True):
    __tablename__ = "amendment"

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    kind: str = Field(max_length=16)
    clause_key: str | None = Field(default=None, max_length=16)  # target; for ADD: insert after it
    text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    rationale: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    proposed_by: str = Field(max_length=128)
    origin: str = Field(default="member", max_length=16)
    evidence_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    status: str = Field(default="proposed", max_length=16)
    created_at: datetime = Field(sa_column=_ts())
    message_key: str | None = Field(default=None, max_length=256)


class BallotEventRow(SQLModel, table=True):
    """Raw ballot events, append-only; a member's latest ballot before close counts."""

    __tablename__ = "ballot_event"
    __table_args__ = (
        UniqueConstraint("community", "event_key", name="uq_ballot_event_key"),
        Index("ix_ballot_event_amendment_member", "amendment_id", "member"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128)
    round_id: int = Field(foreign_key="round.id", index=True)
    amendment_id: int = Field(foreign_key="amendment.id")
    member: str = Field(max_length=128)
    choice: str = Field(max_length=8)
    event_key: str = Field(max_length=200)
    at: datetime = Field(sa_column=_ts())


class TallyRow(SQLModel, table=True):
    """The published result of an amendment's vote: totals only, never who voted what."""

    __tablename__ = "tally"
    __table_args__ = (UniqueConstraint("amendment_id", name="uq_tally_amendment"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    amendment_id: int = Field(foreign_key="amendment.id")
    yes: int
    no: int
    abstain: int
    passed: bool
    adopted: bool
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    detail_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))


# ---------------------------------------------------------------- Discord adapter


class DiscordGuildSettingsRow(SQLModel, table=True):
    """Per-guild settings of the Discord adapter: the role (set by the server owner) whose members
    are moderators, besides those with the Manage Server permission."""

    __tablename__ = "discord_guild_settings"

    guild_id: str = Field(primary_key=True, max_length=32)
    moderator_role_id: str | None = Field(default=None, max_length=32)
    updated_by: str = Field(max_length=32)
    updated_at: datetime = Field(sa_column=_ts())


class CommunityModeratorGroupRow(SQLModel, table=True):
    """The group whose members are moderators of a community, chosen there by an admin: on Slack a
    user group (S…). No row: the adapter's default (POLICYBOT_SLACK_MODERATOR_GROUP); a row whose
    group_id is None: no group, even where a default is set."""

    __tablename__ = "community_moderator_group"

    community: str = Field(primary_key=True, max_length=128)
    group_id: str | None = Field(default=None, max_length=32)
    group_name: str = Field(default="", max_length=128)  # its handle when chosen, for showing the setting
    updated_by: str = Field(max_length=128)
    updated_at: datetime = Field(sa_column=_ts())


# ---------------------------------------------------------------- generation: LLM calls, diversity, stress cases


class LLMCacheRow(SQLModel, table=True):
    """Validated model answers keyed by the hash of the exact request (+ sample index), so a retry
    of a round, or the same round after a restart, re-uses them instead of paying again."""

    __tablename__ = "llm_cache"
    __table_args__ = (UniqueConstraint("prompt_hash", "sample", name="uq_llm_cache_key"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_hash: str = Field(max_length=64)
    sample: int = Field(default=0)
    model: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    prompt_tokens: int = Field(default=0)
    completion_tokens: int = Field(default=0)
    cost_usd: float | None = Field(default=None)
    created_at: datetime = Field(sa_column=_ts())


class LLMCallRow(SQLModel, table=True):
    """One line per model request (or cache hit): what it cost, how long it took, how it ended."""

    __tablename__ = "llm_call"

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(default="", max_length=128)
    round_id: int | None = Field(default=None, index=True)
    purpose: str = Field(max_length=32)  # "candidates", "preview", "stress", "draft"
    model: str = Field(max_length=200)
    prompt_hash: str = Field(max_length=64)
    sample: int = Field(default=0)
    outcome: str = Field(max_length=16)  # "ok", "cached", "malformed", "failed", "unavailable"
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    prompt_tokens: int = Field(default=0)
    completion_tokens: int = Field(default=0)
    latency_ms: float = Field(default=0.0)
    cost_usd: float | None = Field(default=None)
    at: datetime = Field(sa_column=_ts())


class DiversityRow(SQLModel, table=True):
    """Mean pairwise distance between the candidates of one scenario (or of one amendment preview)."""

    __tablename__ = "candidate_diversity"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    scenario_id: int
    amendment_id: int | None = Field(default=None)
    method: str = Field(max_length=64)  # "jaccard" or "embedding:<model>"
    value: float
    n: int
    computed_at: datetime = Field(sa_column=_ts())


class StressCaseRow(SQLModel, table=True):
    """A scenario the model proposed to test the policy (loophole, over-reach, unclear); members
    accept it into the round, where it becomes a scenario with candidates."""

    __tablename__ = "stress_case"

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    kind: str = Field(max_length=16)
    clause_key: str | None = Field(default=None, max_length=16)
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    why: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    status: str = Field(default="proposed", max_length=16)
    proposed_by: str = Field(max_length=128)
    proposed_at: datetime = Field(sa_column=_ts())
    accepted_by: str | None = Field(default=None, max_length=128)
    scenario_id: int | None = Field(default=None)
    message_key: str | None = Field(default=None, max_length=256)


# ---------------------------------------------------------------- scheduling: explicit ends, reminders, DM opt-out


class RoundScheduleRow(SQLModel, table=True):
    """What a round was opened with beyond its durations: explicit phase end times (UTC) and its own
    reminder offsets. No row: the phases last their durations and the default reminders apply."""

    __tablename__ = "round_schedule"
    __table_args__ = (UniqueConstraint("round_id", name="uq_round_schedule_round"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id")
    review_ends_at: datetime | None = Field(default=None, sa_column=_ts_opt())
    amend_ends_at: datetime | None = Field(default=None, sa_column=_ts_opt())
    vote_ends_at: datetime | None = Field(default=None, sa_column=_ts_opt())
    reminder_offsets: str | None = Field(default=None, max_length=200)  # "86400,3600"; "" = none; None = default


class ReminderSentRow(SQLModel, table=True):
    """A reminder claimed before it is posted: the unique key makes it post once per deadline, even
    across restarts and from two bot processes at once."""

    __tablename__ = "reminder_sent"
    __table_args__ = (UniqueConstraint("round_id", "phase", "offset_seconds", "deadline_epoch", name="uq_reminder_sent"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    phase: str = Field(max_length=16)
    offset_seconds: int
    deadline_epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    sent_at: datetime = Field(sa_column=_ts())
    direct_messages: int = Field(default=0)


class ReminderOptOutRow(SQLModel, table=True):
    """A member who asked for no direct-message reminders in a community (channel posts still appear)."""

    __tablename__ = "reminder_opt_out"
    __table_args__ = (UniqueConstraint("community", "member", name="uq_reminder_opt_out"),)

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128)
    member: str = Field(max_length=128)
    at: datetime = Field(sa_column=_ts())


# ---------------------------------------------------------------- export and privacy: consent, opt-out, erasure


class MemberPrivacyRow(SQLModel, table=True):
    """What a member chose about their data in one community: out of exports, consent to export,
    self-described attributes (only with their consent), and when they last erased their data."""

    __tablename__ = "member_privacy"
    __table_args__ = (UniqueConstraint("community", "member", name="uq_member_privacy"),)

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    member: str = Field(max_length=128)
    export_opt_out: bool = Field(default=False)
    export_consent: bool = Field(default=False)  # needed when the community requires consent before export
    attributes_consent: bool = Field(default=False)
    attributes_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    erased_at: datetime | None = Field(default=None, sa_column=_ts_opt())
    updated_at: datetime = Field(sa_column=_ts())
    # privacy: the name shown on what the member writes, if she chose to be named ("": "a member")
    shown_name: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class CommunityExportSettingsRow(SQLModel, table=True):
    """A community's export settings: the licence of its data, and whether members must consent first."""

    __tablename__ = "community_export_settings"

    community: str = Field(primary_key=True, max_length=128)
    licence: str = Field(default="CC-BY-4.0", max_length=64)
    consent_required: bool = Field(default=False)
    updated_by: str = Field(max_length=128)
    updated_at: datetime = Field(sa_column=_ts())


# ---------------------------------------------------------------- analysis: opinion groups per round


class RoundAnalysisRow(SQLModel, table=True):
    """Where REVIEW ended for the analysis: reactions with id ≤ review_event_id are the REVIEW
    reactions the opinion groups (and the bridging tally) are computed from; k is the number of
    groups found then (0: too few members), kept so later recomputations change k only clearly."""

    __tablename__ = "round_analysis"
    __table_args__ = (UniqueConstraint("round_id", name="uq_round_analysis_round"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id")
    review_event_id: int = Field(default=0)
    k: int = Field(default=0)
    computed_at: datetime = Field(sa_column=_ts())


# ---------------------------------------------------------------- delivery: the outbox of posts, handled requests


class OutboxRow(SQLModel, table=True):
    """A post (or an edit of one) that a state change decided, written in the same transaction as the
    change, delivered after its commit in id order, and marked delivered with the platform's message
    key (its content is then emptied). Pending rows are delivered again on start-up and on retry."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_key"),
        Index("ix_outbox_pending", "delivered_at", "round_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)  # stable: round:N:announcement, round:N:candidate:C, …
    community: str = Field(max_length=128)
    round_id: int | None = Field(default=None)
    kind: str = Field(max_length=16)  # "post", "edit" or "results" (a results post computed at delivery)
    parent_key: str | None = Field(default=None, max_length=200)  # outbox key of the thread parent, or of the post to edit
    target: str | None = Field(default=None, max_length=256)  # the message an edit changes, when known at once
    content: str = Field(sa_column=Column(Text, nullable=False))  # the Post as JSON
    message_key: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(sa_column=_ts())
    delivered_at: datetime | None = Field(default=None, sa_column=_ts_opt())
    attempts: int = Field(default=0)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # several bot processes on one database: the process delivering a row holds it until then
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: datetime | None = Field(default=None, sa_column=_ts_opt())


class HandledRequestRow(SQLModel, table=True):
    """A command handled under the platform's own id for the request (Discord interaction id, Slack
    trigger_id): a replay acts once and gets the first answer again. Claimed in the transaction of the
    command's first commit, so two deliveries of one request cannot both change anything."""

    __tablename__ = "handled_request"
    __table_args__ = (UniqueConstraint("community", "request_key", name="uq_handled_request"),)

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128)
    request_key: str = Field(max_length=200)
    member: str = Field(default="", max_length=128)
    reply: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))  # the answer, as JSON
    handled_at: datetime = Field(sa_column=_ts())


# ---------------------------------------------------------------- export: what erasure deleted, as counts only


class ErasureCountRow(SQLModel, table=True):
    """How many events one erasure deleted in one round: counts only (no member, no time), so an
    export's card can still reconcile what members sent with what it exports."""

    __tablename__ = "erasure_count"

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    round_id: int = Field(foreign_key="round.id")
    reaction_events: int = Field(default=0)
    ballot_events: int = Field(default=0)


class RoundPolisStateRow(SQLModel, table=True):
    """What Polis keeps between recomputations of a round's opinion groups (bot.analysis.state,
    as JSON): stage "live" after the latest recomputation, "review" the groups announced when
    REVIEW closed; event_id is the last reaction event that recomputation saw."""

    __tablename__ = "round_polis_state"
    __table_args__ = (UniqueConstraint("round_id", "stage", name="uq_round_polis_state"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id")
    stage: str = Field(max_length=16)
    event_id: int = Field(default=0)
    state: str = Field(sa_column=Column(Text, nullable=False))
    computed_at: datetime = Field(sa_column=_ts())


# ---------------------------------------------------------------- discord: where the slash commands are registered


class DiscordCommandScopeRow(SQLModel, table=True):
    """A server the slash commands were registered in directly (`policybot run discord --guild`, for
    development): a later global registration clears them there, so no command shows twice."""

    __tablename__ = "discord_command_scope"

    guild_id: str = Field(primary_key=True, max_length=32)
    synced_at: datetime = Field(sa_column=_ts())


# ---------------------------------------------------------------- precedents and /try


class PrecedentRow(SQLModel, table=True):
    """A scenario on which the community reached a verdict when its round closed: the answers it
    endorsed by consensus (or its bridging pick) and those it objected to (precedent_answer), under
    the policy version the round ran; later amendments and versions are checked against it."""

    __tablename__ = "precedent"
    __table_args__ = (UniqueConstraint("round_id", "scenario_id", name="uq_precedent_round_scenario"),)

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    policy_version_id: int = Field(foreign_key="policy_version.id")
    round_id: int = Field(foreign_key="round.id")
    scenario_id: int = Field(foreign_key="scenario.id")
    support: int = Field(default=0)  # the most votes behind any one of its verdicts (the order of checks)
    members: int = Field(default=0)  # members who reacted in the round
    evidence_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    rule: str = Field(default="", max_length=32)  # the version of the rule that recorded it
    status: str = Field(default="active", max_length=16)  # "active" or "retired"
    retired_by: str | None = Field(default=None, max_length=128)
    retired_at: datetime | None = Field(default=None, sa_column=_ts_opt())
    retired_reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=_ts())


class PrecedentAnswerRow(SQLModel, table=True):
    """One candidate of a precedent: "like" (endorsed by consensus, or the bridging pick) or "unlike"
    (objected to by consensus), with its counts overall and per opinion group."""

    __tablename__ = "precedent_answer"
    __table_args__ = (UniqueConstraint("precedent_id", "candidate_id", name="uq_precedent_answer"),)

    id: int | None = Field(default=None, primary_key=True)
    precedent_id: int = Field(foreign_key="precedent.id", index=True)
    candidate_id: int = Field(foreign_key="candidate.id")
    verdict: str = Field(max_length=16)  # "like" or "unlike"
    basis: str = Field(max_length=16)  # "consensus" or "bridging"
    endorsements: int = Field(default=0)
    objections: int = Field(default=0)
    passes: int = Field(default=0)
    share: float = Field(default=0.0)  # Laplace-smoothed share of the votes in the verdict's direction
    z: float = Field(default=0.0)  # its one-proportion z
    groups_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))


class PrecedentRoundRow(SQLModel, table=True):
    """A closed round whose precedents were recorded (none, possibly): each round is recorded once."""

    __tablename__ = "precedent_round"
    __table_args__ = (UniqueConstraint("round_id", name="uq_precedent_round"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id")
    policy_id: int = Field(foreign_key="policy.id")
    precedents: int = Field(default=0)
    recorded_at: datetime = Field(sa_column=_ts())


class PrecedentCheckRow(SQLModel, table=True):
    """A precedent answered again under an amendment (or a published version) and judged: consistent,
    inconsistent, unclear, or not_checked (the answer or the judge failed; never counted as kept)."""

    __tablename__ = "precedent_check"
    __table_args__ = (UniqueConstraint("precedent_id", "subject", name="uq_precedent_check"),)

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128, index=True)
    precedent_id: int = Field(foreign_key="precedent.id", index=True)
    subject: str = Field(max_length=40, index=True)  # "amendment:N" or "version:N"
    round_id: int = Field(foreign_key="round.id")  # the round of the amendment, or whose close published the version
    amendment_id: int | None = Field(default=None)
    policy_version_id: int = Field(foreign_key="policy_version.id")  # the version amended, or the version published
    verdict: str = Field(max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    answer: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))  # the new answer
    answer_model: str = Field(default="", max_length=200)
    answer_prompt_hash: str = Field(default="", max_length=64)
    judge_model: str = Field(default="", max_length=200)
    judge_prompt_version: str = Field(default="", max_length=32)
    judge_prompt_hash: str = Field(default="", max_length=64)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))  # why not checked
    checked_at: datetime = Field(sa_column=_ts())


class TryRow(SQLModel, table=True):
    """A member's private /try: the prompt, the policy text it ran under and the answer, kept so the
    member can add the prompt as a scenario and so tries count against the member's limit. Erasure
    blanks the prompt and the answer (the row stays, so the limit still holds)."""

    __tablename__ = "try_prompt"
    __table_args__ = (Index("ix_try_prompt_member", "community", "member", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128)
    member: str = Field(max_length=128)
    policy_id: int = Field(foreign_key="policy.id")
    policy_version_id: int = Field(foreign_key="policy_version.id")
    amendment_id: int | None = Field(default=None)
    turns_json: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    answer: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    model: str = Field(default="", max_length=200)
    prompt_hash: str = Field(default="", max_length=64)
    outcome: str = Field(default="pending", max_length=16)  # "pending", "ok", "failed"
    scenario_id: int | None = Field(default=None)  # set once the member added it as a scenario
    at: datetime = Field(sa_column=_ts())


# ---------------------------------------------------------------- privacy: whose words each model request carried


class PromptAuthorRow(SQLModel, table=True):
    """A member whose words a model request carried (her scenario, amendment, reasons, response), by
    the request's prompt hash: erasure finds the cached answers and log lines of her requests here."""

    __tablename__ = "llm_prompt_author"
    __table_args__ = (UniqueConstraint("community", "member", "prompt_hash", name="uq_llm_prompt_author"),)

    id: int | None = Field(default=None, primary_key=True)
    community: str = Field(max_length=128)
    member: str = Field(max_length=128)
    prompt_hash: str = Field(max_length=64)


# ---------------------------------------------------------------- Slack installations (OAuth mode)

# Bolt's OAuth flow keeps each workspace's installation (its bot token) and the state of installs in
# progress here, through slack_sdk's own SQLAlchemy stores (adapters/slack/installations.py). These
# are the library's tables, column for column (slack_sdk 3.47's build_*_table): written out so that
# storage, and the core through it, never imports a platform library; tests/slack/test_installations.py
# fails if the library's definitions drift from these.


def _slack_table(name: str, *columns: Column, index: tuple[str, ...] = ()) -> Table:  # type: ignore[type-arg]
    extra = (Index(f"{name}_idx", *index),) if index else ()
    return Table(name, SQLModel.metadata, Column("id", Integer, primary_key=True, autoincrement=True), *columns, *extra)


def _s(name: str, length: int, *, nullable: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(name, String(length), nullable=nullable)


def _bot_columns() -> list[Column]:  # type: ignore[type-arg]
    return [_s("bot_token", 200), _s("bot_id", 32), _s("bot_user_id", 32), _s("bot_scopes", 1000),
            _s("bot_refresh_token", 200), Column("bot_token_expires_at", SADateTime)]  # fmt: skip


def _installed_at() -> Column:  # type: ignore[type-arg]
    return Column("installed_at", SADateTime, nullable=False, default=func.now())


def _enterprise_install() -> Column:  # type: ignore[type-arg]
    return Column("is_enterprise_install", Boolean, default=False, nullable=False)


SLACK_INSTALLATIONS = "slack_installations"
SLACK_BOTS = "slack_bots"
SLACK_OAUTH_STATES = "slack_oauth_states"
slack_installations = _slack_table(
    SLACK_INSTALLATIONS,
    _s("client_id", 32, nullable=False), _s("app_id", 32, nullable=False), _s("enterprise_id", 32),
    _s("enterprise_name", 200), _s("enterprise_url", 200), _s("team_id", 32), _s("team_name", 200), *_bot_columns(),
    _s("user_id", 32, nullable=False), _s("user_token", 200), _s("user_scopes", 1000), _s("user_refresh_token", 200),
    Column("user_token_expires_at", SADateTime), _s("incoming_webhook_url", 200), _s("incoming_webhook_channel", 200),
    _s("incoming_webhook_channel_id", 200), _s("incoming_webhook_configuration_url", 200), _enterprise_install(),
    _s("token_type", 32), _installed_at(),
    index=("client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)  # fmt: skip
slack_bots = _slack_table(
    SLACK_BOTS,
    _s("client_id", 32, nullable=False), _s("app_id", 32, nullable=False), _s("enterprise_id", 32),
    _s("enterprise_name", 200), _s("team_id", 32), _s("team_name", 200), *_bot_columns(), _enterprise_install(),
    _installed_at(),
    index=("client_id", "enterprise_id", "team_id", "installed_at"),
)  # fmt: skip
slack_oauth_states = _slack_table(
    SLACK_OAUTH_STATES, _s("state", 200, nullable=False), Column("expire_at", SADateTime, nullable=False)
)
