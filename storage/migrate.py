"""Applying Alembic migrations from code (`policybot db upgrade`, and before commands that need the schema)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Synchronous; runs its own event loop, so call it outside one (or use upgrade_async)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "heads") -> None:
    await asyncio.to_thread(upgrade, url, revision)


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from storage.database import async_url

    sync_url = async_url(url).replace("+aiosqlite", "").replace("+asyncpg", "+asyncpg")
    if "+asyncpg" in sync_url:
        raise RuntimeError("current() supports SQLite only")
    with create_engine(sync_url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
