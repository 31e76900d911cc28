"""What handlers are given: the unit-of-work factory and the ports. Built once by bootstrap()."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.batching import RowAppender
from bot.ports import ChatPort, Clock, Embedder, Generator
from storage.uow import UnitOfWork

log = logging.getLogger("policybot")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    llm_concurrency: int = 8  # LLM calls in flight at once
    temperature: float = 0.9
    sampling: str = "independent"
    max_scenarios_per_round: int = 25
    min_phase_seconds: int = 60  # scheduling (issue 6): shortest phase a round may be given
    # generation (issue 3)
    max_drafts: int = 0  # amendments the bot drafts when REVIEW closes (0: none)
    preview: bool = False  # regenerate scenarios under each amendment when the vote opens
    preview_scenarios: int = 4  # at most this many scenarios per amendment preview
    export_secret: str = field(default="", repr=False)  # export (issue 8): key of the pseudonymous annotator ids


@dataclass
class Services:
    uow: Callable[[], UnitOfWork]
    chat: ChatPort
    generator: Generator
    clock: Clock
    options: EngineOptions = field(default_factory=EngineOptions)
    # member → opinion group for a round, used by the bridging tally rule (set by the analysis module)
    opinion_groups: Callable[[AsyncSession, int], Awaitable[dict[str, int]]] | None = None
    embedder: Embedder | None = None  # for the embedding diversity figure (issue 3)
    # called with a round id when its deadlines change, so the scheduler re-arms (set by bot.scheduler)
    on_schedule_change: Callable[[int], None] | None = None
    # waits until every reaction received so far is committed (set by the Engine: its recorder's flush)
    reactions_settled: Callable[[], Awaitable[None]] | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    appender: RowAppender = field(init=False)  # log lines and cache entries, by group commit

    def __post_init__(self) -> None:
        self.appender = RowAppender(self.uow)

    def schedule_changed(self, round_id: int) -> None:
        """Tell the scheduler, if one runs, that a round's phase or deadline changed."""
        if self.on_schedule_change is not None:
            self.on_schedule_change(round_id)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run slow work (LLM calls, long posting) after the command has been answered."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)

        def _done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed", name, exc_info=t.exception())

        task.add_done_callback(_done)
        return task

    async def drain(self) -> None:
        """Wait until every background task (and the ones they start) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def now(self) -> datetime:
        moment = self.clock.now()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
