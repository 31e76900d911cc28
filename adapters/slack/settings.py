"""Slack's own settings: tokens or the OAuth app's credentials, the Web API address, moderators,
and where HTTP mode listens.

Two ways to run (the README's Slack section walks through both):
- one workspace: SLACK_BOT_TOKEN (the xoxb token the app got when installed from its settings page);
- many workspaces (OAuth mode): SLACK_CLIENT_ID and SLACK_CLIENT_SECRET; each workspace installs the
  app at /slack/install and its bot token is kept in the database by Bolt's installation store.
Setting both, or half of the OAuth pair, stops the start-up with what to change (`mode`)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The bot scopes policybot asks a workspace for; slack-manifest.yml's oauth_config lists the same, and
# tests/slack/test_manifest.py checks both against the Web API methods the adapter calls.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "reactions:read",
    "reactions:write",
    "users:read",
    "usergroups:read",
    "files:write",
    "im:write",
    "channels:read",
    "groups:read",
)
INSTALL_PATH = "/slack/install"  # Bolt's defaults: the install link, and where Slack sends the installer back
REDIRECT_PATH = "/slack/oauth_redirect"


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYBOT_SLACK_", env_file=".env", extra="ignore", populate_by_name=True)

    bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "POLICYBOT_SLACK_BOT_TOKEN"),
        description="the app's Bot User OAuth Token (xoxb-…), from OAuth & Permissions",
    )
    signing_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "POLICYBOT_SLACK_SIGNING_SECRET"),
        description="HTTP mode: Basic Information → App Credentials → Signing Secret",
    )
    app_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "POLICYBOT_SLACK_APP_TOKEN"),
        description="Socket Mode: an app-level token (xapp-…) with connections:write",
    )
    client_id: str | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_CLIENT_ID", "POLICYBOT_SLACK_CLIENT_ID"),
        description="OAuth mode: Basic Information → App Credentials → Client ID",
    )
    client_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_CLIENT_SECRET", "POLICYBOT_SLACK_CLIENT_SECRET"),
        description="OAuth mode: Basic Information → App Credentials → Client Secret",
    )
    redirect_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="OAuth mode: the public address of /slack/oauth_redirect, as listed under OAuth & Permissions → "
        "Redirect URLs (needed when more than one is listed there)",
    )
    install_state_seconds: int = Field(600, ge=60, le=86_400, description="OAuth mode: how long an install link stays valid")
    rate_limit_clock: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Slack's rate limits paced on a clock this much faster (1: Slack's own; tests against a fake Slack use less)",
    )
    token_cache_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="OAuth mode: how long a process keeps a workspace's bot token before reading it again "
        "(an uninstall in another process reaches this one within this time)",
    )
    api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    moderator_group: str | None = Field(
        None,
        description="id of a user group (S…) whose members are moderators too, where admins chose none (/policybot moderators)",
    )
    host: str = Field("0.0.0.0", description="HTTP mode: address to listen on")  # noqa: S104  (a server's default)
    port: int = Field(3000, ge=0, le=65535, description="HTTP mode: port to listen on")

    def mode(self) -> Literal["token", "oauth"]:
        """Single-workspace (SLACK_BOT_TOKEN) or OAuth mode (client id and secret); SystemExit, saying
        what to change, for a mix of the two or half of the OAuth pair."""
        oauth = (self.client_id is not None, self.client_secret is not None)
        if oauth == (True, True):
            if self.bot_token is not None:
                raise SystemExit(
                    "Both SLACK_BOT_TOKEN and SLACK_CLIENT_ID/SLACK_CLIENT_SECRET are set: pick one. For one workspace, "
                    "keep SLACK_BOT_TOKEN and unset the client id and secret; for many workspaces (OAuth: each installs "
                    "the app at /slack/install), unset SLACK_BOT_TOKEN."
                )
            return "oauth"
        if oauth != (False, False):
            missing = "SLACK_CLIENT_SECRET" if self.client_id is not None else "SLACK_CLIENT_ID"
            raise SystemExit(
                f"{missing} is not set: OAuth mode (many workspaces) needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
                "(Basic Information → App Credentials); for one workspace, unset both and set SLACK_BOT_TOKEN."
            )
        if self.bot_token is None:
            raise SystemExit(
                "Set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…), from OAuth & Permissions; or, to serve "
                "many workspaces, SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth mode)."
            )
        return "token"
