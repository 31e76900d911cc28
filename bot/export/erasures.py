"""What erasures deleted in the rounds of an export, as counts (the erase command records them)."""

from __future__ import annotations

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import ErasureCountRow


async def erased_counts(s: AsyncSession, community: str, round_ids: list[int]) -> dict[str, int]:
    E = ErasureCountRow
    q = select(func.coalesce(func.sum(E.reaction_events), 0), func.coalesce(func.sum(E.ballot_events), 0)).where(
        col(E.community) == community, col(E.round_id).in_(round_ids)
    )
    reactions, ballots = (await s.exec(q)).one()
    return {"reaction_events": int(reactions), "ballot_events": int(ballots)}
