"""Unit of work: one transaction, committed explicitly, rolled back otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import Database
from storage.scope import active, claim


class UnitOfWork:
    """`async with uow:` opens a session; `await uow.commit()` makes the work durable. Leaving the
    block without commit rolls back, so a CommandError raised half-way changes nothing."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._database.session()
        return self

    async def __aexit__(
        self, _exc_type: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        # close() rolls back whatever was not committed and detaches the rows without expiring
        # them, so values read inside the block stay readable after it.
        try:
            await self._session.close()
        finally:
            self._session = None

    async def commit(self) -> None:
        scope = active()
        if scope is None:
            await self.session.commit()
            return
        if scope.request_key and not scope.claimed:  # the command's first commit claims its request key
            await claim(self.session, scope)
        await self.session.commit()
        scope.claimed = scope.committed = True


class UnitOfWorkFactory:
    def __init__(self, database: Database) -> None:
        self.database = database

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.database)
