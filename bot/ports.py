"""The core's ports: small Protocols the adapters and infrastructure implement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.domain.commands import Actor
from bot.domain.outputs import Attachment, Post, Reply


class ChatPort(Protocol):
    """Where posts go. Message keys are opaque strings chosen by the adapter."""

    async def post(self, post: Post) -> str: ...

    async def edit(self, message_key: str, post: Post) -> None: ...

    async def reply_privately(self, actor: Actor, reply: Reply) -> None: ...

    async def upload(self, channel: str, attachment: Attachment, text: str = "") -> str: ...


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "system", "user", "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: tuple[Message, ...]
    temperature: float = 0.9
    max_tokens: int = 800
    purpose: str = "candidate"  # for logs and cost accounting


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Generator(Protocol):
    """The LLM. Raises GeneratorUnavailable when the model cannot be reached at all, and
    GeneratorFailed when it answered unusably after its retries."""

    @property
    def model(self) -> str: ...

    async def complete(self, prompt: Prompt) -> Completion: ...


class Embedder(Protocol):
    """Text embeddings (optional; used for the candidate diversity figure)."""

    @property
    def model(self) -> str: ...

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
