"""bootstrap(): the one place where the application is assembled from settings and ports."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from bot.analysis.loading import opinion_groups
from bot.engine import Engine
from bot.ingest import ReactionRecorder
from bot.llm import LLMConfig
from bot.llm_process import LLMWorker, ProcessEmbedder, ProcessGenerator
from bot.offload import OffloadedGenerator
from bot.ports import ChatPort, Clock, Embedder, Generator
from bot.services import EngineOptions, Services, SystemClock
from bot.settings import Settings
from storage.database import Database
from storage.uow import UnitOfWorkFactory


@dataclass
class App:
    settings: Settings
    database: Database
    engine: Engine

    async def start(self) -> None:
        """For the long-running commands, once everything is assembled: start litellm's child process
        now (the first round then does not wait ~2 s for it to import litellm), and settle the heap."""
        generator = self.engine.services.generator
        if isinstance(generator, ProcessGenerator):
            await generator.worker.start()
        settle_heap()

    async def close(self) -> None:
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
    process by default (bot/llm_process.py), or on a worker thread (bot/offload.py)."""
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
    services = Services(
        uow=UnitOfWorkFactory(database),
        chat=chat,
        generator=generator,
        clock=clock or SystemClock(),
        opinion_groups=opinion_groups,  # analysis (issue 7): groups for the bridging tally rule
        options=EngineOptions(
            llm_concurrency=settings.llm_concurrency,
            temperature=settings.temperature,
            min_phase_seconds=settings.min_phase_seconds,
            sampling=settings.sampling,
            max_drafts=settings.max_drafts,
            preview=settings.preview,
            preview_scenarios=settings.preview_scenarios,
            export_secret=settings.export_secret.get_secret_value() if settings.export_secret else "",
        ),
        embedder=embedder,
    )
    dialect = "sqlite" if database.is_sqlite else "postgresql"
    engine = Engine(services, ReactionRecorder(services, dialect))
    return App(settings, database, engine)
