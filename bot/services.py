"""What handlers are given: the unit-of-work factory, the ports and the engine's options. Built
once by bootstrap(); nothing in it is reassigned afterwards."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import utc
from bot.ports import ChatPort, Clock, Embedder, Generator
from bot.settings import Settings
from storage.batching import RowAppender
from storage.database import Database
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.rounds.recording import ReactionRecorder

log = logging.getLogger("policybot")

# member → opinion group of a round (the bridging tally rule, drafting evidence, exports)
OpinionGroups = Callable[[AsyncSession, int], Awaitable[dict[str, int]]]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """The settings the core reads while it works; made from Settings, whose defaults are the only ones."""

    llm_concurrency: int  # LLM calls in flight at once
    temperature: float
    sampling: str  # "negatively-correlated" or "independent"
    max_scenarios_per_round: int
    min_phase_seconds: int  # shortest phase a round may be given
    max_drafts: int  # amendments the bot drafts when REVIEW closes (0: none)
    preview: bool  # regenerate scenarios under each amendment when the vote opens
    preview_scenarios: int  # at most this many scenarios per amendment preview
    max_response_chars: int  # longest model response kept as it is (longer: asked again, then cut)
    export_secret: str = field(repr=False)  # key of the pseudonymous annotator ids
    instance: str  # this process's name among those sharing the database (who holds an outbox row)
    precedent_checks: int  # precedents checked per amendment and per published version (0: none)
    try_limit: int  # /try answers per member in 24 hours (0: /try is off)

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineOptions:
        return cls(
            llm_concurrency=settings.llm_concurrency,
            temperature=settings.temperature,
            sampling=settings.sampling,
            max_scenarios_per_round=settings.max_scenarios_per_round,
            min_phase_seconds=settings.min_phase_seconds,
            max_drafts=settings.max_drafts,
            preview=settings.preview,
            preview_scenarios=settings.preview_scenarios,
            max_response_chars=settings.max_response_chars,
            export_secret=settings.export_secret.get_secret_value() if settings.export_secret else "",
            instance=settings.instance,
            precedent_checks=settings.precedent_checks,
            try_limit=settings.try_limit,
        )


class ScheduleChanges:
    """Round ids whose phase or deadline changed. The scheduler, while it runs, subscribes to re-arm
    its wake-ups at once; with no scheduler running, a change is simply not watched."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[int], None]] = []

    def subscribe(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call `listener` with each changed round id; returns how to unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def changed(self, round_id: int) -> None:
        for listener in list(self._listeners):
            listener(round_id)


@dataclass
class Services:
    uow: Callable[[], UnitOfWork]
    chat: ChatPort
    generator: Generator
    clock: Clock
    options: EngineOptions
    recorder: ReactionRecorder  # members' reactions, by group commit
    appender: RowAppender  # log lines and cache entries, by group commit
    database: Database  # Database.write: the writes that come by the hundred a second
    opinion_groups: OpinionGroups
    embedder: Embedder | None = None  # for the embedding diversity figure
    schedule: ScheduleChanges = field(default_factory=ScheduleChanges)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _delivery: asyncio.Lock | None = None

    def schedule_changed(self, round_id: int) -> None:
        """Tell the scheduler, if one runs, that a round's phase or deadline changed."""
        self.schedule.changed(round_id)

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
        return utc(self.clock.now())

    def delivery_lock(self) -> asyncio.Lock:
        """One delivery of the outbox at a time in this process, so no post goes out twice."""
        if self._delivery is None:
            self._delivery = asyncio.Lock()
        return self._delivery
