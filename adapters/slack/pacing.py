"""Pacing Web API calls within Slack's rate limits, so a round's burst of posts never provokes a 429.

Slack allows chat.postMessage about once a second per channel (its "special" tier; short bursts are
tolerated, sustained ones answered 429), and reactions.add is Tier 3: about 50 calls a minute per
workspace. A Pacer keeps, per key (a channel, a workspace), when its last calls completed, and lets a
call start only when fewer than `calls` completed within the last `seconds`: a sliding window, so
no window Slack may count holds more. Counting from completion, not from the start, keeps the
spacing at Slack's end however long a request spent on its way there. Calls on one key run one at a
time, in the order they asked (asyncio.Lock is fair), so posts keep their order.

A 429 can still come (another process posting with the same token, a limit lower than documented):
the client's retry handler waits Retry-After and retries inside the slot, so the key stays paused
for as long as Slack asked."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `calls` calls in any `seconds`."""

    calls: int
    seconds: float

    def scaled(self, factor: float) -> Limit:
        return Limit(self.calls, self.seconds * factor)


@dataclass(frozen=True, slots=True)
class SlackLimits:
    message: Limit = Limit(1, 1.0)  # chat.postMessage, per channel
    reaction: Limit = Limit(50, 60.0)  # reactions.add, per workspace

    def scaled(self, factor: float) -> SlackLimits:
        """The same limits on a faster clock (tests and the bench run Slack's limits ×factor in time)."""
        return SlackLimits(self.message.scaled(factor), self.reaction.scaled(factor))


@dataclass
class _Key:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    done: deque[float] = field(default_factory=deque)  # completion times of the latest calls, oldest first


class Pacer:
    def __init__(self, limit: Limit, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.limit = limit
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0  # seconds calls spent waiting for their slot, in all (logs and the bench)
        self._keys: dict[str, _Key] = {}

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Wait for `key`'s turn within the limit; the call runs inside, and its end is counted."""
        k = self._keys.setdefault(key, _Key())
        async with k.lock:
            while len(k.done) >= self.limit.calls:
                wait = k.done[0] + self.limit.seconds - self.clock()
                if wait <= 0:
                    k.done.popleft()
                    continue
                self.waited += wait
                await self.sleep(wait)
            try:
                yield
            finally:
                k.done.append(self.clock())


class SlackPacing:
    """The pacers of one Slack client: chat.postMessage per channel, reactions.add per workspace."""

    def __init__(self, limits: SlackLimits | None = None, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.limits = limits or SlackLimits()
        self.messages = Pacer(self.limits.message, clock=clock, sleep=sleep)
        self.reactions = Pacer(self.limits.reaction, clock=clock, sleep=sleep)

    def message(self, channel: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self.messages.slot(channel)

    def reaction(self, workspace: str = "") -> contextlib.AbstractAsyncContextManager[None]:
        return self.reactions.slot(workspace)
