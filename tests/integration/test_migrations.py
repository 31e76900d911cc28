"""The Alembic migrations build exactly the schema the tables declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.tables  # noqa: F401
from storage.database import Database


async def test_migrations_match_tables(database: Database) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(ctx, SQLModel.metadata)

    async with database.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], changes
