"""Typed settings of the core from the environment and .env (prefix POLICYBOT_). Built by the CLI, never at
import. Each platform's own settings, its tokens included, live in its adapter (adapters/*/settings.py)."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYBOT_", env_file=".env", extra="ignore")

    database_url: str = Field("sqlite:///policybot.db", description="sqlite:///file.db or postgresql://user@host/db")

    model: str = Field("openai/gpt-4o-mini", description="litellm model name, e.g. openai/gpt-4o-mini, ollama/llama3.1")
    llm_api_base: str | None = Field(None, description="API base URL for a local or proxy server")
    llm_timeout: float = Field(60.0, gt=0, description="seconds per LLM call")
    llm_retries: int = Field(2, ge=0, le=10, description="retries of a failed LLM call, with backoff")
    llm_concurrency: int = Field(8, ge=1, le=64, description="LLM calls in flight at once")
    llm_worker: Literal["process", "thread"] = Field(
        "process",
        description="run litellm in a child process (members' acknowledgements never wait on its CPU work) "
        "or on a thread of the bot's process (one process, about 150 MB less memory)",
    )
    temperature: float = Field(0.9, ge=0, le=2)
    sampling: Literal["negatively-correlated", "independent"] = Field(
        "negatively-correlated", description="one request for K deliberately different responses, or K independent calls"
    )
    fallback_model: str | None = Field(None, description="litellm model tried when the main model fails after its retries")
    fallback_api_base: str | None = Field(None, description="API base of the fallback model (default: llm_api_base)")
    embedding_model: str | None = Field(None, description="litellm embedding model for the diversity figure (default: lexical)")
    max_drafts: int = Field(3, ge=0, le=10, description="amendments the bot drafts from the evidence when REVIEW closes")
    preview: bool = Field(True, description="regenerate scenarios under each amendment when the vote opens")
    preview_scenarios: int = Field(4, ge=1, le=25, description="scenarios regenerated per amendment preview")

    max_scenarios_per_round: int = Field(25, ge=1, le=100, description="most scenarios one round may have")
    min_phase_seconds: int = Field(60, ge=1, description="shortest phase (and reminder offset) a round may be given, in seconds")
    scheduler_poll_seconds: float = Field(
        60.0, gt=0, description="seconds between the scheduler's re-reads of every deadline from the database (safety net)"
    )
    reminders: str = Field("24h,1h", description="default reminder offsets before each deadline, e.g. 24h,1h; none for none")
    reminder_dms: bool = Field(True, description="also remind by direct message members who reacted but have not voted")

    # delivery and hostile input: model output bounds, structured answers
    max_response_chars: int = Field(
        4000, ge=200, le=100_000, description="longest model response kept as it is; longer: asked again, then cut at a sentence"
    )
    structured_output: Literal["auto", "always", "never"] = Field(
        "auto",
        description="send JSON answers' schema as the provider's response_format: when litellm says the model "
        "supports it (auto), always (e.g. a local server that does), or never",
    )

    instance: str = Field(
        default_factory=socket.gethostname,
        max_length=128,
        description="this process's name among the bot processes that share one database (default: the host name); "
        "two processes on one host need two names",
    )

    export_secret: SecretStr | None = Field(None, description="key for pseudonymous annotator ids in exports")

    # precedents and /try
    precedent_checks: int = Field(
        12,
        ge=0,
        le=50,
        description="precedents each amendment (and each published version) is checked against, "
        "most supported first (0: no checks)",
    )
    try_limit: int = Field(20, ge=0, le=1000, description="/try answers each member may ask for in 24 hours (0: /try is off)")
