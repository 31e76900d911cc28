"""Posting through the ChatPort and remembering which message shows which subject.

Called after the transaction that produced the posts has committed, never inside one."""

from __future__ import annotations

from sqlalchemy import update

from bot.outputs import Post
from bot.services import Services
from storage.tables import AmendmentRow, CandidateRow, RoundRow, RoundScenarioRow


async def publish(svc: Services, post: Post) -> str:
    key = await svc.chat.post(post)
    if post.subject is not None:
        await remember(svc, post, key)
    return key


async def remember(svc: Services, post: Post, key: str) -> None:
    subject = post.subject
    assert subject is not None
    async with svc.uow() as uow:
        s = uow.session
        if subject.kind == "candidate":
            await s.exec(update(CandidateRow).where(CandidateRow.id == subject.id).values(message_key=key))  # type: ignore[arg-type]
        elif subject.kind == "amendment":
            await s.exec(update(AmendmentRow).where(AmendmentRow.id == subject.id).values(message_key=key))  # type: ignore[arg-type]
        elif subject.kind == "round":
            await s.exec(update(RoundRow).where(RoundRow.id == subject.id).values(announcement_key=key))  # type: ignore[arg-type]
        elif subject.kind == "round_scenario":
            await s.exec(update(RoundScenarioRow).where(RoundScenarioRow.id == subject.id).values(thread_key=key))  # type: ignore[arg-type]
        await uow.commit()


async def publish_all(svc: Services, posts: tuple[Post, ...] | list[Post]) -> list[str]:
    return [await publish(svc, p) for p in posts]
