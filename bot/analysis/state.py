"""What Polis keeps between recomputations of the opinion groups, and where the bot keeps it.

Polis recomputes a conversation as votes arrive and carries over who is in the conversation, the
base clusters, the groups found for each k and the k smoother; each recomputation starts from
them. The bot stores the same per round (table round_polis_state): stage "live" after each
recomputation (results posts at the ends of phases, /round results), and stage "review" holding the
groups announced when REVIEW closed. event_id is the last reaction event the recomputation saw:
asked again with no new reaction, the groups are read back instead of recomputed (Polis recomputes
only on new votes). No numpy here: the privacy handlers use it to forget an erased member."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import RoundPolisStateRow, RoundRow

LIVE = "live"
REVIEW = "review"


@dataclass(frozen=True)
class Cluster:
    id: int
    members: tuple[Any, ...]  # base clusters: participant ids (str); groups: base cluster ids (int)


@dataclass(frozen=True)
class KSmoother:
    last_k: int | None = None  # the best k of the latest recomputation
    last_k_count: int = 0  # recomputations in a row it has been the best
    smoothed_k: int | None = None  # the k Polis shows


@dataclass(frozen=True)
class PolisState:
    in_conv: tuple[str, ...] = ()
    base_clusters: tuple[Cluster, ...] = ()
    group_clusterings: dict[int, tuple[Cluster, ...]] = field(default_factory=dict)
    smoother: KSmoother = KSmoother()
    k: int | None = None  # the k of the groups shown (the smoothed k unless the bot's floors rule it out)

    def as_json(self) -> dict[str, Any]:
        return {
            "in_conv": list(self.in_conv),
            "base_clusters": [[c.id, list(c.members)] for c in self.base_clusters],
            "group_clusterings": {
                str(k): [[c.id, list(c.members)] for c in cs] for k, cs in sorted(self.group_clusterings.items())
            },
            "smoother": [self.smoother.last_k, self.smoother.last_k_count, self.smoother.smoothed_k],
            "k": self.k,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolisState:
        last_k, count, smoothed_k = data["smoother"]
        groups = {
            int(k): tuple(Cluster(int(i), tuple(int(b) for b in bs)) for i, bs in cs)
            for k, cs in data["group_clusterings"].items()
        }
        return cls(
            tuple(str(m) for m in data["in_conv"]),
            tuple(Cluster(int(i), tuple(str(m) for m in ms)) for i, ms in data["base_clusters"]),
            groups,
            KSmoother(last_k, int(count), smoothed_k),
            data.get("k"),
        )

    def without(self, member: str) -> PolisState:
        """The state with one participant forgotten (erasure)."""
        base = tuple(Cluster(c.id, tuple(m for m in c.members if m != member)) for c in self.base_clusters)
        return replace(self, in_conv=tuple(m for m in self.in_conv if m != member), base_clusters=base)


@dataclass(frozen=True)
class StoredState:
    state: PolisState
    event_id: int  # the last reaction event the recomputation saw


async def stored_state(s: AsyncSession, round_id: int, stage: str) -> StoredState | None:
    row = (
        await s.exec(select(RoundPolisStateRow).where(RoundPolisStateRow.round_id == round_id, RoundPolisStateRow.stage == stage))
    ).first()
    return None if row is None else StoredState(PolisState.from_json(json.loads(row.state)), row.event_id)


async def keep_state(s: AsyncSession, round_id: int, stage: str, kept: StoredState, now: datetime) -> bool:
    """Stores a recomputation's state unless one that saw later reactions is there already (live),
    or unless any is there (review: the groups announced stay as announced). True if stored."""
    text = json.dumps(kept.state.as_json(), separators=(",", ":"))
    if stage == LIVE:
        changed = await s.exec(
            update(RoundPolisStateRow)
            .where(
                col(RoundPolisStateRow.round_id) == round_id,
                col(RoundPolisStateRow.stage) == stage,
                col(RoundPolisStateRow.event_id) < kept.event_id,
            )
            .values(state=text, event_id=kept.event_id, computed_at=now)
        )
        if changed.rowcount:
            return True
    if await stored_state(s, round_id, stage) is not None:
        return False
    s.add(RoundPolisStateRow(round_id=round_id, stage=stage, event_id=kept.event_id, state=text, computed_at=now))
    try:
        await s.flush()
    except IntegrityError:  # stored concurrently: that one stays
        await s.rollback()
        return False
    return True


async def forget_member(s: AsyncSession, community: str, member: str) -> None:
    """Erasure: the member leaves every stored state of the community's rounds."""
    rounds = select(RoundRow.id).where(RoundRow.community == community)
    rows = (await s.exec(select(RoundPolisStateRow).where(col(RoundPolisStateRow.round_id).in_(rounds)))).all()
    for row in rows:
        state = PolisState.from_json(json.loads(row.state))
        if member in state.in_conv or any(member in c.members for c in state.base_clusters):
            row.state = json.dumps(state.without(member).as_json(), separators=(",", ":"))
            s.add(row)
