"""Posting straight through the ChatPort, outside the outbox (bot/rounds/outbox.py): only for courtesy
posts that belong to no committed change, such as the progress of a round's generation, which a
restart simply shows again. Everything a change decides goes through the outbox."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.outputs import Post
from bot.rounds.outbox import remember_in
from bot.services import Services


async def publish(svc: Services, post: Post) -> str:
    key = await svc.chat.post(post)
    await remember(svc, [(post, key)])
    return key


async def remember(svc: Services, posted: Sequence[tuple[Post, str]]) -> None:
    if not any(p.subject is not None for p, _ in posted):
        return
    async with svc.uow() as uow:
        await remember_in(uow.session, posted)
        await uow.commit()
