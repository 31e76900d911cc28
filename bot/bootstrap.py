"""bootstrap(): the one place where the application is assembled from settings and ports."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bot.analysis.loading import opinion_groups
from bot.engine import Engine
from bot.llm.litellm import LLMConfig
from bot.llm.process import LLMWorker, ProcessEmbedder, ProcessGenerator
from bot.llm.thread import OffloadedGenerator
from bot.ports import ChatPort, Clock, Embedder, Generator
from bot.rounds.deadlines import parse_reminders
from bot.rounds.recording import ReactionRecorder
from bot.scheduler import RoundScheduler
from bot.services import EngineOptions, Services, SystemClock
from bot.settings import Settings
from storage.batching import RowAppender
from storage.database import Database
from storage.uow import UnitOfWorkFactory


@dataclass
class App:
    settings: Settings
    database: Database
    engine: Engine
    scheduler: RoundScheduler
    _closed: bool = False

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[App]:
        """For the long-running commands (console, Discord, Slack), once the chat connection can
        post: start litellm's child process (the first round then does not wait ~2 s for it),
        start the scheduler (it catches up at once on what fell due while the bot was down),
        settle the heap; on the way out stop the scheduler and close everything."""
        try:
            generator = self.engine.services.generator
            if isinstance(generator, ProcessGenerator):
                await generator.worker.start()
            await self.engine.prune_handled()  # answers to old requests are kept a day, no longer
            await self.scheduler.start()  # it first delivers what a stopped process left in the outbox
            settle_heap()
            yield self
        finally:
            await self.scheduler.stop()
            await self.close()

    async def close(self) -> None:
        """Finish the background work, then release the database and the LLM worker (once)."""
        if self._closed:
            return
        self._closed = True
        await self.engine.close()
        await self.database.dispose()
        generator = self.engine.services.generator
        if isinstance(generator, ProcessGenerator):
            await generator.aclose()
        elif isinstance(generator, OffloadedGenerator):
            generator.close()


def settle_heap() -> None:
    """Call once the long-running app is assembled. Everything built so far (imported modules, the
    app) lives as long as the process; freezing it keeps the collector's full passes, which stop
    the event loop, from walking those few hundred thousand objects again (about 100 ms each)."""
    gc.collect()
    gc.freeze()


def _llm(settings: Settings) -> tuple[Generator, Embedder | None]:
    """The generator (and embedder) bootstrap() builds when none is given: litellm in a child
    process by default (bot/llm/process.py), or on a worker thread (bot/llm/thread.py)."""
    config = LLMConfig.from_settings(settings)
    if settings.llm_worker == "process":
        worker = LLMWorker(config)
        return ProcessGenerator(worker), ProcessEmbedder(worker) if config.embedding_model else None
    return OffloadedGenerator(config.generator()), config.embedder()


def bootstrap(
    settings: Settings,
    chat: ChatPort,
    *,
    generator: Generator | None = None,
    clock: Clock | None = None,
    database: Database | None = None,
) -> App:
    database = database or Database(settings.database_url)
    embedder: Embedder | None
    if generator is None:
        generator, embedder = _llm(settings)
    else:  # a generator given (tests, benches): embeddings, if configured, in this process
        embedder = LLMConfig.from_settings(settings).embedder()
    clock = clock or SystemClock()
    uow = UnitOfWorkFactory(database)
    services = Services(
        uow=uow,
        chat=chat,
        generator=generator,
        clock=clock,
        options=EngineOptions.from_settings(settings),
        recorder=ReactionRecorder(database, clock),
        appender=RowAppender(database),
        database=database,
        opinion_groups=opinion_groups,
        embedder=embedder,
    )
    scheduler = RoundScheduler(
        services,
        poll_seconds=settings.scheduler_poll_seconds,
        reminder_offsets=parse_reminders(settings.reminders, minimum_seconds=min(60, settings.min_phase_seconds)),
        reminder_dms=settings.reminder_dms,
    )
    return App(settings, database, Engine(services), scheduler)
