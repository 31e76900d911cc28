"""Discord's own settings: the bot token and the development server. Read by `policybot run discord`."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DiscordSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYBOT_DISCORD_", env_file=".env", extra="ignore", populate_by_name=True)

    token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("DISCORD_TOKEN", "POLICYBOT_DISCORD_TOKEN"),
        description="the bot token from the Discord developer portal (Bot → Reset Token)",
    )
    guild_id: int | None = Field(None, description="a server whose commands are registered at once, while developing")
