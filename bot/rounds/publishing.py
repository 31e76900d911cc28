"""Posting through the ChatPort and remembering which message shows which subject.

Called after the transaction that produced the posts has committed, never inside one. A group of
posts is remembered in one transaction once all of them are posted; a crash in between leaves
those messages unmapped (reactions on them are then refused, not misfiled)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, update

from bot.domain.outputs import Post
from bot.services import Services
from storage.tables import AmendmentRow, CandidateRow, RoundRow, RoundScenarioRow

# subject kind → (table, column holding the message key)
_KEY_COLUMN: dict[str, tuple[Any, str]] = {
    "candidate": (CandidateRow.__table__, "message_key"),  # type: ignore[attr-defined]
    "amendment": (AmendmentRow.__table__, "message_key"),  # type: ignore[attr-defined]
    "round": (RoundRow.__table__, "announcement_key"),  # type: ignore[attr-defined]
    "round_scenario": (RoundScenarioRow.__table__, "thread_key"),  # type: ignore[attr-defined]
}


async def publish(svc: Services, post: Post) -> str:
    return (await publish_all(svc, [post]))[0]


async def publish_all(svc: Services, posts: Sequence[Post]) -> list[str]:
    """Post each in order, then remember all their message keys in one transaction."""
    keys = [await svc.chat.post(p) for p in posts]
    await remember(svc, list(zip(posts, keys, strict=True)))
    return keys


async def remember(svc: Services, posted: Sequence[tuple[Post, str]]) -> None:
    by_kind: dict[str, list[dict[str, object]]] = {}
    for post, key in posted:
        if post.subject is not None and post.subject.kind in _KEY_COLUMN:
            by_kind.setdefault(post.subject.kind, []).append({"subject_id": post.subject.id, "message_key": key})
    if not by_kind:
        return
    async with svc.uow() as uow:
        conn = await uow.session.connection()
        for kind, rows in by_kind.items():
            table, column = _KEY_COLUMN[kind]
            stmt = update(table).where(table.c.id == bindparam("subject_id")).values({column: bindparam("message_key")})
            await conn.execute(stmt, rows)
        await uow.commit()
