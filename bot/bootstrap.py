"""bootstrap(): the one place where the application is assembled from settings and ports."""

from __future__ import annotations

from dataclasses import dataclass

from bot.analysis.loading import opinion_groups
from bot.engine import Engine
from bot.ingest import ReactionRecorder
from bot.llm import LiteLLMEmbedder, LiteLLMGenerator
from bot.offload import OffloadedGenerator
from bot.ports import ChatPort, Clock, Generator
from bot.services import EngineOptions, Services, SystemClock
from bot.settings import Settings
from storage.database import Database
from storage.uow import UnitOfWorkFactory


@dataclass
class App:
    settings: Settings
    database: Database
    engine: Engine

    async def close(self) -> None:
        await self.engine.close()
        await self.database.dispose()
        generator = self.engine.services.generator
        if isinstance(generator, OffloadedGenerator):
            generator.close()


def bootstrap(
    settings: Settings,
    chat: ChatPort,
    *,
    generator: Generator | None = None,
    clock: Clock | None = None,
    database: Database | None = None,
) -> App:
    database = database or Database(settings.database_url)
    if generator is None:
        # litellm's per-call CPU work runs on its own loop, so acknowledgements never wait on it.
        generator = OffloadedGenerator(
            LiteLLMGenerator(
                settings.model,
                api_base=settings.llm_api_base,
                timeout=settings.llm_timeout,
                retries=settings.llm_retries,
                fallback_model=settings.fallback_model,
                fallback_api_base=settings.fallback_api_base,
                concurrency=settings.llm_concurrency,
            )
        )
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
        embedder=LiteLLMEmbedder(settings.embedding_model, api_base=settings.llm_api_base, timeout=settings.llm_timeout)
        if settings.embedding_model
        else None,
    )
    dialect = "sqlite" if database.is_sqlite else "postgresql"
    engine = Engine(services, ReactionRecorder(services, dialect))
    return App(settings, database, engine)
