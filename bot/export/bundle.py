"""An export bundle: data files, a dataset card (README.md) and manifest.json with SHA-256 checksums,
written to a directory (and optionally zipped). One pass over the members feeds every format."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import CommandError
from bot.export.attributes import aggregate_counts, k_anonymous
from bot.export.card import dataset_card
from bot.export.context import Context, Scope, load_context
from bot.export.derive import plan_members, stream_members
from bot.export.events import write_events
from bot.export.formats import (
    FORMATS,
    CommunityAlignmentEmitter,
    Emitter,
    Fragments,
    PolisEmitter,
    PreferenceEmitter,
    UnpairedEmitter,
)
from bot.export.pseudonym import Pseudonyms, require_secret
from bot.export.writers import Output, sha256_of
from storage.uow import UnitOfWork

MANIFEST_SCHEMA = "policybot-export/1"
OpinionGroups = Callable[[AsyncSession, int], Awaitable[dict[str, int]]]


@dataclass(frozen=True, slots=True)
class ExportRequest:
    scope: Scope
    formats: tuple[str, ...] = tuple(FORMATS)
    jsonl: bool = True  # the JSON Lines / CSV files
    parquet: bool = False  # Parquet files of the tabular formats
    k_anonymity: int = 5


@dataclass
class ExportResult:
    directory: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    def path(self, relative: str) -> Path:
        return self.directory / relative


def check_formats(formats: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for f in formats:
        name = f.strip().lower()
        if name == "all":
            out.extend(FORMATS)
        elif name in FORMATS:
            out.append(name)
        else:
            raise CommandError(f"Unknown export format '{f[:30]}'. Formats: {', '.join(FORMATS)} (or all).")
    if not out:
        raise CommandError(f"Name at least one format: {', '.join(FORMATS)} (or all).")
    return tuple(dict.fromkeys(out))


async def _snapshot(s: AsyncSession) -> None:
    """On PostgreSQL, read the whole export from one snapshot."""
    bind = s.bind
    if bind is not None and bind.dialect.name == "postgresql":
        await s.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def export_bundle(
    uow: Callable[[], UnitOfWork],
    request: ExportRequest,
    out_dir: Path,
    *,
    secret: str | None,
    now: datetime,
    opinion_groups: OpinionGroups | None = None,
) -> ExportResult:
    """Write the bundle to out_dir (created; must not exist yet). Refuses without the secret."""
    key = require_secret(secret)
    formats = check_formats(request.formats)
    if not (request.jsonl or request.parquet):
        raise CommandError("Choose JSON Lines / CSV files, Parquet files, or both.")
    if request.k_anonymity < 2:
        raise CommandError("k for the attributes must be at least 2.")
    work = _prepare(out_dir)
    try:
        manifest = await _write(uow, request, formats, work, key, now, opinion_groups)
        work.rename(out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ExportResult(out_dir, manifest)


def _prepare(out_dir: Path) -> Path:
    """A fresh work directory beside out_dir; renamed to out_dir once every file is written."""
    if out_dir.exists():
        raise CommandError(f"{out_dir} already exists; choose a new output directory.")
    work = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


async def _groups(s: AsyncSession, ctx: Context, opinion_groups: OpinionGroups | None) -> dict[int, dict[str, int]]:
    if opinion_groups is None:
        return {}
    return {rid: dict(await opinion_groups(s, rid)) for rid in ctx.round_ids}


async def _write(
    uow: Callable[[], UnitOfWork],
    request: ExportRequest,
    formats: tuple[str, ...],
    root: Path,
    key: bytes,
    now: datetime,
    opinion_groups: OpinionGroups | None,
) -> dict[str, Any]:
    jsonl, parquet = request.jsonl, request.parquet
    async with uow() as u:
        s = u.session
        await _snapshot(s)
        ctx = await load_context(s, request.scope)
        pseudonyms = Pseudonyms(key, ctx.platform, ctx.scope.community)
        plan = await plan_members(s, ctx, pseudonyms)
        included = set(plan.order)
        by_round = await _groups(s, ctx, opinion_groups)
        latest_group: dict[str, int] = {}
        for rid in sorted(by_round):
            latest_group.update({m: g for m, g in by_round[rid].items() if m in included})
        group_sizes = {rid: dict(Counter(g for m, g in groups.items() if m in included)) for rid, groups in by_round.items()}
        given = {m: a for m, a in ctx.privacy.attributes.items() if m in included}
        attributes = k_anonymous(given, request.k_anonymity)
        frags = Fragments(ctx)
        emitters: list[Emitter] = []
        pref: list[PreferenceEmitter] = []
        for name in ("trl", "trl-standard", "openai"):
            if name in formats and (jsonl or (parquet and name != "openai")):
                pref.append(PreferenceEmitter(name, root, ctx, frags, jsonl=jsonl, parquet=parquet))
        emitters += pref
        kto = UnpairedEmitter(root, ctx, frags, jsonl=jsonl, parquet=parquet) if "kto" in formats else None
        ca = (
            CommunityAlignmentEmitter(root, ctx, frags, attributes, jsonl=jsonl, parquet=parquet)
            if "community-alignment" in formats
            else None
        )
        polis = PolisEmitter(root, ctx, plan, latest_group, now) if "polis" in formats and jsonl else None
        emitters += [e for e in (kto, ca, polis) if e is not None]
        members = stances = bests = pairs_best = pairs_stance = 0
        try:
            async for m in stream_members(s, ctx, plan, pseudonyms, times=polis is not None):
                members += 1
                stances += len(m.stances)
                bests += len(m.best)
                if not pref:  # count comparisons even when no pairwise format is written
                    for *_, basis in m.pairs(ctx):
                        pairs_best += basis == "best"
                        pairs_stance += basis == "stance"
                for e in emitters:
                    e.member(m)
        finally:
            outputs: list[Output] = [o for e in emitters for o in e.close()]
        event_counts: dict[str, int] = {}
        if "events" in formats:
            event_outputs, event_counts = await write_events(s, root, ctx, pseudonyms, jsonl=jsonl, parquet=parquet)
            outputs += event_outputs
    if pref:
        pairs_best, pairs_stance = pref[0].comparisons["best"], pref[0].comparisons["stance"]
    counts: dict[str, int] = {
        "rounds": len(ctx.rounds),
        "scenarios": len({(g.round_id, g.scenario_id) for g in ctx.groups}),
        "candidates": len(ctx.candidates),
        "annotators": members,
        "current_stances": stances,
        "best_picks": bests,
        "comparisons": pairs_best + pairs_stance,
        "comparisons_from_best_picks": pairs_best,
        "comparisons_from_stances": pairs_stance,
    }
    if kto is not None:
        counts["unpaired_endorse"] = kto.labels[True]
        counts["unpaired_object"] = kto.labels[False]
    if ca is not None:
        counts["annotator_scenario_rows_with_best_pick"] = ca.with_preference
    counts.update({f"{k}_events": v for k, v in event_counts.items()})
    exclusions: dict[str, Any] = {
        "members": {
            "opted_out": plan.excluded_members.get("opted_out", 0),
            "no_consent": plan.excluded_members.get("no_consent", 0),
        },
        "reaction_events": {
            "opted_out": plan.excluded_events.get("opted_out", 0),
            "no_consent": plan.excluded_events.get("no_consent", 0),
        },
        "candidates": {k: ctx.withheld_candidates.get(k, 0) for k in ("opted_out", "no_consent", "erased")},
        "erased_members": ctx.privacy.erased_members,
        "consent_required": ctx.privacy.consent_required,
    }
    attr_counts = aggregate_counts(given, request.k_anonymity)
    card = dataset_card(ctx, outputs, counts, exclusions, group_sizes, attr_counts, request.k_anonymity, now)
    (root / "README.md").write_text(card, encoding="utf-8")
    files: list[dict[str, Any]] = []
    for o in [Output("README.md", "dataset-card", 0), *outputs]:
        p = root / o.path
        size, digest = (o.bytes, o.sha256) if o.bytes is not None and o.sha256 is not None else (p.stat().st_size, sha256_of(p))
        files.append(
            {
                "path": o.path,
                "format": o.format,
                "rows": None if o.path == "README.md" else o.rows,
                "bytes": size,
                "sha256": digest,
            }
        )
    manifest: dict[str, Any] = {
        "schema": MANIFEST_SCHEMA,
        "generated_at": now.astimezone(UTC).isoformat(),
        "community": ctx.scope.community,
        "platform": ctx.platform,
        "scope": {"kind": ctx.scope.kind, "round_id": ctx.scope.round_id, "policy": ctx.scope.policy, "rounds": ctx.round_ids},
        "policies": sorted({f"{r.policy} v{r.version}" for r in ctx.rounds.values()}),
        "formats": list(formats),
        "licence": ctx.privacy.licence,
        "annotator_ids": "HMAC-SHA256(export secret, platform \\x1f community \\x1f member), 'a' + first 20 hex digits",
        "attributes_k": request.k_anonymity,
        "counts": counts,
        "exclusions": exclusions,
        "files": files,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def verify_bundle(directory: Path) -> list[str]:
    """Problems found by checking every file against the manifest (empty when all is well)."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    problems: list[str] = []
    listed = set()
    for f in manifest["files"]:
        p = directory / f["path"]
        listed.add(f["path"])
        if not p.is_file():
            problems.append(f"{f['path']}: missing")
        elif p.stat().st_size != f["bytes"]:
            problems.append(f"{f['path']}: {p.stat().st_size} bytes, manifest says {f['bytes']}")
        elif sha256_of(p) != f["sha256"]:
            problems.append(f"{f['path']}: checksum differs from the manifest")
    for p in directory.rglob("*"):
        rel = p.relative_to(directory).as_posix()
        if p.is_file() and rel != "manifest.json" and rel not in listed:
            problems.append(f"{rel}: not in the manifest")
    return problems


def zip_bundle(directory: Path, zip_path: Path) -> Path:
    """The bundle as one zip, every file under a folder named like the directory."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for p in sorted(directory.rglob("*")):
            if p.is_file():
                z.write(p, f"{directory.name}/{p.relative_to(directory).as_posix()}")
    return zip_path
