"""The core's ports: small Protocols the adapters and infrastructure implement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.domain.commands import Actor
from bot.domain.outputs import Attachment, Post, Reply


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the bot cannot post somewhere, and the exact fix, in the platform's words."""

    problem: str  # e.g. "policybot is not a member of #policy"
    remedy: str  # e.g. "invite @policybot to #policy (/invite @policybot in that channel)"

    def describe(self) -> str:
        return f"{self.problem}. To fix it: {self.remedy}."


class ChatRefused(Exception):
    """The platform refused a post for a reason a moderator can fix (missing permission, the bot not
    in the channel); any other exception from a ChatPort is a failure of ours or of the network."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.describe())
        self.refusal = refusal


class ChatPort(Protocol):
    """Where posts go. Message keys are opaque strings chosen by the adapter.

    `delivery_key` is the outbox's stable key of the post: an adapter whose platform can deduplicate
    a message create (Discord's nonce) passes it on, so a post delivered twice appears once.

    A post's (or an edit's) `community` is the one its channel is in: the core sets it on every post it
    delivers; an adapter that serves several workspaces with their own tokens (Slack) goes by it."""

    async def post(self, post: Post, *, delivery_key: str = "") -> str: ...

    async def can_post(self, actor: Actor, channel: str) -> Refusal | None:
        """None when the bot can post (and start threads) in `channel`; else what stops it and the
        fix. `actor` is the member whose command asks (their latest interaction may carry the bot's
        permissions there). Unknown is not a refusal: say None when the platform cannot tell."""
        ...

    async def edit(self, message_key: str, post: Post) -> None: ...

    async def reply_privately(self, actor: Actor, reply: Reply) -> None: ...

    async def upload(self, channel: str, attachment: Attachment, text: str = "", *, community: str = "") -> str:
        """`community`: the one the channel is in (as Post.community)."""
        ...


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "system", "user", "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """The JSON Schema an answer must follow (sent as the provider's structured-output format where it
    has one; the prompt's own format line stays as the fallback)."""

    name: str
    json: str  # the schema, as JSON text (keeps Prompt hashable and easy to send to the LLM process)


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: tuple[Message, ...]
    temperature: float = 0.9
    max_tokens: int = 800
    purpose: str = "candidate"  # for logs and cost accounting
    schema: OutputSchema | None = None  # a JSON answer's schema


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
