"""How members are credited in what the bot posts: by the name a member chose to be shown under
(/privacy name on), otherwise as "a member"; never by a platform id."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.model import ANONYMOUS_MEMBER
from storage.tables import MemberPrivacyRow

MAX_SHOWN_NAME = 80


async def shown_names(s: AsyncSession, community: str, members: Iterable[str]) -> dict[str, str]:
    """member → the name she chose to be shown under, for those of `members` who chose one."""
    wanted = {m for m in members if m}
    if not wanted:
        return {}
    P = MemberPrivacyRow
    rows = await s.exec(
        select(P.member, P.shown_name).where(col(P.community) == community, col(P.member).in_(wanted), col(P.shown_name) != "")
    )
    return {member: name for member, name in rows.all()}


async def credit(s: AsyncSession, community: str, member: str | None) -> str:
    """How `member` is credited in a post: her chosen name, or "a member"."""
    if not member:
        return ANONYMOUS_MEMBER
    return (await shown_names(s, community, [member])).get(member, ANONYMOUS_MEMBER)
