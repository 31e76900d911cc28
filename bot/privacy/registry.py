"""Where a member's data can be: every text column of every table, in one list.

A column is listed as holding a member's platform id (`ids`), words she wrote (`words`), or text
made from members' words (`derived`: model answers to her scenario, a draft's rationale from her
reasons, a changelog quoting her amendment, a prompt hash of a request that carried her words), or
declared free of member data with the reason (`free`). bot.privacy.erasure has one step per table
that holds anything; tests/unit/test_privacy_registry.py fails when a table or a text column is in
neither list, so a table added later cannot escape erasure without someone deciding about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

EVERYWHERE_FREE: Mapping[str, str] = {
    "community": "the community's own id (guild or workspace)",
}


@dataclass(frozen=True, slots=True)
class Holds:
    ids: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    free: Mapping[str, str] = field(default_factory=dict)

    @property
    def personal(self) -> frozenset[str]:
        return frozenset(self.ids) | frozenset(self.words) | frozenset(self.derived)


_MESSAGE = "a platform message key (channel and message id), never a member id"
_CREDENTIAL = "a workspace's bot token: a secret of the workspace, not a member's data"
_SLACK_BOT = {
    "client_id": "the Slack app's client id",
    "app_id": "the Slack app's id",
    "enterprise_id": "an Enterprise Grid organisation's id",
    "enterprise_name": "an Enterprise Grid organisation's name",
    "team_id": "the workspace's id (the community)",
    "team_name": "the workspace's name",
    "bot_token": _CREDENTIAL,
    "bot_refresh_token": _CREDENTIAL,
    "bot_id": "the bot's id in the workspace",
    "bot_user_id": "the bot's own user id in the workspace",
    "bot_scopes": "the scopes the workspace granted the bot",
}

TABLES: Mapping[str, Holds] = {
    "policy": Holds(ids=("created_by",), free={"name": "the policy's name, the community's"}),
    "policy_version": Holds(ids=("created_by",), derived=("changelog",)),  # the changelog quotes amendments
    "clause": Holds(
        free={
            "clause_key": "a stable key such as c1",
            "text": "the community's published policy; an adopted amendment's text is the community's (README)",
        }
    ),
    "scenario": Holds(ids=("created_by",), words=("title", "turns_json")),
    "round": Holds(
        ids=("opened_by",),
        derived=("note",),
        free={
            "platform": "the platform's name",
            "channel": "the round's channel id",
            "phase": "a phase name",
            "threshold": "a fraction",
            "announcement_key": _MESSAGE,
        },
    ),
    "round_scenario": Holds(free={"thread_key": _MESSAGE}),
    "candidate": Holds(
        ids=("author_member",),
        words=("text",),  # a member-written response
        derived=("text", "prompt_hash", "settings_json"),  # a model answer to her words, and its request
        free={
            "author_kind": "model or human",
            "model": "a model name",
            "method": "a sampling method",
            "prompt_version": "a prompt template's version",
            "message_key": _MESSAGE,
        },
    ),
    "reaction_event": Holds(
        ids=("member", "event_key"),  # a Discord reaction's event key names the member
        words=("reason",),
        free={"stance": "endorse, object, pass or best", "action": "add or remove"},
    ),
    "amendment": Holds(
        ids=("proposed_by",),
        words=("text", "rationale"),
        derived=("text", "rationale", "evidence_json"),  # a bot draft: made from members' reasons
        free={
            "kind": "add, replace or remove",
            "clause_key": "a stable key such as c1",
            "origin": "member or bot",
            "status": "a status",
            "message_key": _MESSAGE,
        },
    ),
    "ballot_event": Holds(ids=("member", "event_key"), free={"choice": "yes, no or abstain"}),
    "tally": Holds(
        free={
            "reason": "the tally rule's verdict, in the bot's words",
            "detail_json": "quorum and vote counts per opinion group, no member",
        }
    ),
    "discord_guild_settings": Holds(
        ids=("updated_by",),
        free={"guild_id": "the community's own id", "moderator_role_id": "a role id"},
    ),
    "community_moderator_group": Holds(
        ids=("updated_by",),
        free={"group_id": "a user group id", "group_name": "a user group's handle, the workspace's"},
    ),
    "llm_cache": Holds(derived=("text", "prompt_hash"), free={"model": "a model name"}),
    "llm_call": Holds(
        derived=("prompt_hash", "detail"),
        free={"purpose": "what the request was for", "model": "a model name", "outcome": "how the request ended"},
    ),
    "llm_prompt_author": Holds(ids=("member",), derived=("prompt_hash",)),
    "candidate_diversity": Holds(free={"method": "a distance method's name"}),
    "stress_case": Holds(
        ids=("proposed_by", "accepted_by"),
        free={
            "kind": "a stress case kind",
            "clause_key": "a stable key such as c1",
            "prompt": "the model's words, written from the published policy alone",
            "why": "the model's words, written from the published policy alone",
            "status": "a status",
            "message_key": _MESSAGE,
        },
    ),
    "round_schedule": Holds(free={"reminder_offsets": "numbers of seconds"}),
    "reminder_sent": Holds(free={"phase": "a phase name"}),
    "reminder_opt_out": Holds(ids=("member",)),
    "member_privacy": Holds(ids=("member",), words=("attributes_json", "shown_name")),
    "community_export_settings": Holds(ids=("updated_by",), free={"licence": "an SPDX licence id"}),
    "round_analysis": Holds(),
    "outbox": Holds(
        derived=("content",),  # a post not delivered yet (delivered ones are emptied)
        free={
            "key": "an outbox key naming rows, never a member",
            "kind": "post, edit or results",
            "parent_key": "an outbox key naming rows, never a member",
            "target": _MESSAGE,
            "message_key": _MESSAGE,
            "last_error": "the platform's error for a delivery",
            "claimed_by": "the name of a bot process",
        },
    ),
    "handled_request": Holds(
        ids=("member",),
        derived=("reply",),  # an answer kept for a replay may quote anyone's words
        free={"request_key": "the platform's id of a request (interaction or trigger id), never a member id"},
    ),
    "erasure_count": Holds(),
    "round_polis_state": Holds(ids=("state",), free={"stage": "live or review"}),  # participants by member id
    "discord_command_scope": Holds(free={"guild_id": "a server the commands were registered in"}),
    "precedent": Holds(
        ids=("retired_by",),
        words=("retired_reason",),  # the moderator's own words
        free={
            "evidence_json": "vote counts overall and per opinion group, no member",
            "rule": "the version of the verdict rule",
            "status": "active or retired",
        },
    ),
    "precedent_answer": Holds(
        free={"verdict": "like or unlike", "basis": "consensus or bridging", "groups_json": "counts per opinion group"}
    ),
    "precedent_round": Holds(),
    "precedent_check": Holds(
        # the new answer to a precedent's scenario under an amendment, and the judge's reason about
        # it: made from the scenario's words and the amendment's
        derived=("answer", "reason", "answer_prompt_hash", "judge_prompt_hash", "detail"),
        free={
            "subject": "amendment:N or version:N",
            "verdict": "consistent, inconsistent, unclear or not checked",
            "answer_model": "a model name",
            "judge_model": "a model name",
            "judge_prompt_version": "a prompt template's version",
        },
    ),
    # Bolt's installation store (OAuth mode). Installations are the workspace's, not any member's: only
    # the installer's id (and a user token, had she granted user scopes; none are asked) is hers.
    "slack_installations": Holds(
        ids=("user_id", "user_token", "user_scopes", "user_refresh_token"),
        free={
            **_SLACK_BOT,
            "enterprise_url": "an Enterprise Grid organisation's address",
            "incoming_webhook_url": "an incoming webhook of the workspace (policybot asks for none)",
            "incoming_webhook_channel": "the webhook's channel name",
            "incoming_webhook_channel_id": "the webhook's channel id",
            "incoming_webhook_configuration_url": "the webhook's settings page",
            "token_type": "bot or user",
        },
    ),
    "slack_bots": Holds(free=_SLACK_BOT),
    "slack_oauth_states": Holds(free={"state": "a random one-time value of an install in progress"}),
    "try_prompt": Holds(
        ids=("member",),
        words=("turns_json",),
        derived=("answer", "prompt_hash"),
        free={"model": "a model name", "outcome": "how the try ended"},
    ),
}
