"""Slack's own settings: tokens, the Web API address, moderators, and where HTTP mode listens."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    moderator_group: str | None = Field(
        None,
        description="id of a user group (S…) whose members are moderators too, where admins chose none (/policybot moderators)",
    )
    host: str = Field("0.0.0.0", description="HTTP mode: address to listen on")  # noqa: S104  (a server's default)
    port: int = Field(3000, ge=0, le=65535, description="HTTP mode: port to listen on")
