"""How different the candidates of one scenario are: mean pairwise distance.

Lexical by default (1 − Jaccard similarity of the word sets), or cosine distance of embeddings
where an embedding model is configured (POLICYBOT_EMBEDDING_MODEL). Stored per scenario (and per
amendment preview) in candidate_diversity, shown to moderators in the round status."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from itertools import combinations

from sqlalchemy import delete
from sqlmodel import col, select

from bot.errors import GeneratorFailed
from bot.ports import Embedder
from bot.services import Services
from storage.tables import DiversityRow

log = logging.getLogger("policybot.diversity")

_WORD = re.compile(r"[\w']+", re.UNICODE)
LEXICAL = "jaccard"


def words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(text))


def jaccard_distance(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    if not wa and not wb:
        return 0.0
    return 1.0 - len(wa & wb) / len(wa | wb)


def cosine_distance(u: Sequence[float], v: Sequence[float]) -> float:
    nu = math.sqrt(sum(x * x for x in u))
    nv = math.sqrt(sum(x * x for x in v))
    if nu == 0 or nv == 0:
        return 1.0
    return 1.0 - sum(x * y for x, y in zip(u, v, strict=True)) / (nu * nv)


def mean_pairwise(items: Sequence[object], distance: object) -> float:
    pairs = list(combinations(range(len(items)), 2))
    if not pairs:
        return 0.0
    fn = distance  # a callable of two items
    return sum(fn(items[i], items[j]) for i, j in pairs) / len(pairs)  # type: ignore[operator]


def lexical_diversity(texts: Sequence[str]) -> float:
    return mean_pairwise(texts, jaccard_distance)


async def embedding_diversity(embedder: Embedder, texts: Sequence[str]) -> float:
    vectors = await embedder.embed(list(texts))
    return mean_pairwise(vectors, cosine_distance)


async def measure(embedder: Embedder | None, texts: Sequence[str]) -> tuple[str, float]:
    """(method, value); falls back to the lexical measure when the embedding call fails."""
    if embedder is not None:
        try:
            return f"embedding:{embedder.model}"[:64], await embedding_diversity(embedder, texts)
        except GeneratorFailed as e:
            log.warning("embedding diversity failed (%s); using the lexical measure", e)
    return LEXICAL, lexical_diversity(texts)


async def record(
    svc: Services, round_id: int, groups: dict[int, list[str]], *, amendment_id: int | None = None
) -> dict[int, tuple[str, float]]:
    """Measure each scenario's candidates (no transaction open meanwhile), then store the figures."""
    figures = {sid: await measure(svc.embedder, texts) for sid, texts in groups.items() if len(texts) >= 2}
    if not figures:
        return figures
    now = svc.now()
    rows = [
        DiversityRow(
            round_id=round_id,
            scenario_id=sid,
            amendment_id=amendment_id,
            method=method,
            value=value,
            n=len(groups[sid]),
            computed_at=now,
        )
        for sid, (method, value) in figures.items()
    ]
    async with svc.uow() as uow:  # one DELETE and one INSERT: a short hold on the database's write lock
        s = uow.session
        await s.exec(
            delete(DiversityRow).where(
                col(DiversityRow.round_id) == round_id,
                col(DiversityRow.scenario_id).in_(list(figures)),
                col(DiversityRow.amendment_id).is_(None)
                if amendment_id is None
                else col(DiversityRow.amendment_id) == amendment_id,
            )
        )
        s.add_all(rows)
        await uow.commit()
    return figures


async def round_figures(svc: Services, round_id: int) -> tuple[dict[int, DiversityRow], float | None]:
    """Per-scenario figures of the round's own candidates (not previews) and their mean."""
    async with svc.uow() as uow:
        rows = (
            await uow.session.exec(
                select(DiversityRow).where(DiversityRow.round_id == round_id, col(DiversityRow.amendment_id).is_(None))
            )
        ).all()
    per = {r.scenario_id: r for r in rows}
    mean = sum(r.value for r in per.values()) / len(per) if per else None
    return per, mean
