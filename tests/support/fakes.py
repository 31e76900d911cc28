"""Fakes of our own ports (never of a library) for unit tests of the core."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.domain.commands import Actor
from bot.domain.outputs import Attachment, Post, Reply
from bot.errors import GeneratorFailed, GeneratorUnavailable
from bot.ports import ChatRefused, Completion, Prompt, Refusal


class FakeChat:
    """Records what the core posts; message keys are m1, m2, … It can be told to refuse a channel,
    before (`cannot_post`, asked by can_post) or while posting (`refuse_posts`), or to fail a post
    with any exception (`fail`)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.posts: dict[str, Post] = {}
        self.order: list[str] = []
        self.edits: list[tuple[str, Post]] = []
        self.private: list[tuple[Actor, Reply]] = []
        self.uploads: list[tuple[str, Attachment, str]] = []
        self.delivery_keys: list[str] = []  # the outbox key each post was delivered under
        self.cannot_post: dict[str, Refusal] = {}  # channel → what can_post answers
        self.refuse_posts: dict[str, Refusal] = {}  # channel → posts there raise ChatRefused
        self.fail: Callable[[Post], BaseException | None] | None = None  # an exception to raise for a post

    async def post(self, post: Post, *, delivery_key: str = "") -> str:
        refusal = self.refuse_posts.get(post.channel)
        if refusal is not None:
            raise ChatRefused(refusal)
        failure = self.fail(post) if self.fail is not None else None
        if failure is not None:
            raise failure
        key = f"m{next(self._ids)}"
        self.posts[key] = post
        self.order.append(key)
        self.delivery_keys.append(delivery_key)
        return key

    async def can_post(self, actor: Actor, channel: str) -> Refusal | None:
        return self.cannot_post.get(channel)

    async def edit(self, message_key: str, post: Post) -> None:
        self.edits.append((message_key, post))
        self.posts[message_key] = post

    async def reply_privately(self, actor: Actor, reply: Reply) -> None:
        self.private.append((actor, reply))

    async def upload(self, channel: str, attachment: Attachment, text: str = "", *, community: str = "") -> str:
        key = f"m{next(self._ids)}"
        self.uploads.append((channel, attachment, text))
        return key

    def titled(self, prefix: str) -> list[Post]:
        return [self.posts[k] for k in self.order if self.posts[k].title.startswith(prefix)]

    def keys_of(self, kind: str) -> dict[int, str]:
        return {p.subject.id: k for k, p in self.posts.items() if p.subject and p.subject.kind == kind}


@dataclass
class FakeGenerator:
    """Answers with distinct text per call; can be told to fail."""

    model_name: str = "fake/model"
    unavailable: bool = False
    fail_when: str | None = None  # fail calls whose last user message contains this text
    delay: float = 0.0
    calls: list[Prompt] = field(default_factory=list)
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def model(self) -> str:
        return self.model_name

    async def complete(self, prompt: Prompt) -> Completion:
        self.calls.append(prompt)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.unavailable:
                raise GeneratorUnavailable(self.model_name, "connection refused")
            last = prompt.messages[-1].content
            if self.fail_when and self.fail_when in last:
                raise GeneratorFailed(self.model_name, "the model returned no text")
            n = next(self._n)
            return Completion(
                text=f"Response {n} to: {last[:40]}", model=self.model_name, prompt_tokens=10, completion_tokens=5, latency_ms=1.0
            )
        finally:
            self.in_flight -= 1


class FixedClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **kwargs: float) -> None:
        self.moment += timedelta(**kwargs)
