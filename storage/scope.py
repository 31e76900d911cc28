"""The command being handled, as the units of work it opens see it (a context variable set by the
engine). It does two things at the command's commits, in the task that handles the command only
(background work the handler starts runs in other tasks and is never mistaken for it):

- With a request key (the platform's own id of the request), the first commit also claims the key
  in `handled_request`, in the same transaction: a replayed request that reaches the same point
  finds the key taken, its transaction is rolled back, and it acts once (AlreadyHandled).
- It remembers whether anything was committed, so a failure afterwards is never reported as
  "nothing was changed"."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import HandledRequestRow


class AlreadyHandled(Exception):
    """The request key was claimed by an earlier delivery of the same request."""


@dataclass
class CommandScope:
    community: str
    member: str
    request_key: str = ""  # empty: the command is not deduplicated here (reactions and ballots have their own keys)
    task: asyncio.Task[Any] | None = None
    committed: bool = False
    claimed: bool = False
    enqueued: set[str] = field(default_factory=set)  # outbox keys written by the command, not yet delivered

    def owns(self) -> bool:
        return self.task is not None and self.task is asyncio.current_task()


current: ContextVar[CommandScope | None] = ContextVar("policybot_command_scope", default=None)


def active() -> CommandScope | None:
    """The scope of the command handled by this very task, if any."""
    scope = current.get()
    return scope if scope is not None and scope.owns() else None


async def claim(session: AsyncSession, scope: CommandScope) -> None:
    """Insert the request key in the transaction about to commit; AlreadyHandled if it is taken."""
    conn = await session.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    table: Any = HandledRequestRow.__table__  # type: ignore[attr-defined]
    stmt = (
        insert(table)
        .values(
            community=scope.community,
            request_key=scope.request_key,
            member=scope.member,
            reply="",
            handled_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["community", "request_key"])
        .returning(table.c.id)
    )
    if (await conn.execute(stmt)).first() is None:
        raise AlreadyHandled(scope.request_key)
