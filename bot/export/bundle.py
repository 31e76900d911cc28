"""An export bundle: data files, a dataset card (README.md) and manifest.json with SHA-256 checksums,
written to a directory (and optionally zipped). One pass over the members feeds every format."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import CommandError
from bot.export.alignment import CommunityAlignmentEmitter
from bot.export.amendments import write_amendments
from bot.export.attributes import aggregate_counts, k_anonymous
from bot.export.card import CardFacts, dataset_card, loadable, parquet_card
from bot.export.context import Context, Scope, load_context
from bot.export.derive import MemberPlan, plan_members, stream_members
from bot.export.erasures import erased_counts
from bot.export.events import write_events
from bot.export.formats import (
    FORMATS,
    JSONL_ONLY,
    PARQUET_DIR,
    Emitter,
    Fragments,
    PreferenceEmitter,
    UnpairedEmitter,
)
from bot.export.openai_preference import OpenAIEmitter
from bot.export.polis import PolisEmitter
from bot.export.precedents import write_precedents
from bot.export.pseudonym import Pseudonyms, require_secret
from bot.export.writers import Output, sha256_of
from storage.uow import UnitOfWork

MANIFEST_SCHEMA = "policybot-export/2"
OpinionGroups = Callable[[AsyncSession, int], Awaitable[dict[str, int]]]


@dataclass(frozen=True, slots=True)
class ExportRequest:
    scope: Scope
    formats: tuple[str, ...] = tuple(FORMATS)
    jsonl: bool = True  # the JSON Lines / CSV files
    parquet: bool = False  # Parquet files of the tabular formats
    k_anonymity: int = 5
    system_prompt: bool = False  # put the policy, as the system message, into the TRL, KTO and OpenAI prompts


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


@dataclass
class _Tallies:
    """What the pass over the members counted, for the card and the manifest."""

    members: int = 0
    stances: int = 0
    bests: int = 0
    pairs: dict[str, int] = field(default_factory=lambda: {"best": 0, "stance": 0})
    events: int = 0
    on_withheld: int = 0


class _Run:
    """One export: which files are written, the pass over the members, the card and the manifest."""

    def __init__(self, request: ExportRequest, formats: tuple[str, ...], root: Path, now: datetime) -> None:
        self.request = request
        self.root = root
        self.now = now
        self.not_written = {
            f: "it is only written as JSON Lines / CSV, and --no-jsonl was given"
            for f in formats
            if f in JSONL_ONLY and not request.jsonl
        }
        self.formats = tuple(f for f in formats if f not in self.not_written)
        self.outputs: list[Output] = []
        self.tallies = _Tallies()
        self.counts: dict[str, int] = {}

    def emitters(
        self, ctx: Context, plan: MemberPlan, latest_group: dict[str, int], attributes: dict[str, dict[str, str]]
    ) -> None:
        r, root, fmts = self.request, self.root, self.formats
        frags = Fragments(ctx, system_prompt=r.system_prompt)
        kw = {"jsonl": r.jsonl, "parquet": r.parquet}
        self.pref = [PreferenceEmitter(n, root, ctx, frags, **kw) for n in ("trl", "trl-standard") if n in fmts]
        self.kto = UnpairedEmitter(root, ctx, frags, **kw) if "kto" in fmts else None
        self.ca = CommunityAlignmentEmitter(root, ctx, frags, attributes, **kw) if "community-alignment" in fmts else None
        self.openai = OpenAIEmitter(root, ctx, frags) if "openai" in fmts else None
        self.polis = PolisEmitter(root, ctx, plan, latest_group, self.now) if "polis" in fmts else None
        self.all: list[Emitter] = [*self.pref, *(e for e in (self.kto, self.ca, self.openai, self.polis) if e is not None)]

    async def members(self, s: AsyncSession, ctx: Context, plan: MemberPlan, pseudonyms: Pseudonyms) -> None:
        t = self.tallies
        try:
            async for m in stream_members(s, ctx, plan, pseudonyms, times=self.polis is not None):
                t.members += 1
                t.stances += len(m.stances)
                t.bests += len(m.best)
                t.events += m.events
                t.on_withheld += m.withheld_events
                if not self.pref:  # count comparisons even when no TRL preference file is written
                    for *_, basis in m.pairs(ctx):
                        t.pairs[basis] += 1
                for e in self.all:
                    e.member(m)
        finally:
            self.outputs += [o for e in self.all for o in e.close()]
        if self.pref:
            t.pairs = dict(self.pref[0].comparisons)

    def count(self, ctx: Context, event_counts: dict[str, int]) -> dict[str, int]:
        t = self.tallies
        counts: dict[str, int] = {
            "rounds": len(ctx.rounds),
            "scenarios": len({(g.round_id, g.scenario_id) for g in ctx.groups}),
            "candidates": len(ctx.candidates),
            "annotators": t.members,
            "current_stances": t.stances,
            "best_picks": t.bests,
            "comparisons": t.pairs["best"] + t.pairs["stance"],
            "comparisons_from_best_picks": t.pairs["best"],
            "comparisons_from_stances": t.pairs["stance"],
        }
        if self.kto is not None:
            counts["unpaired_endorse"] = self.kto.labels[True]
            counts["unpaired_object"] = self.kto.labels[False]
        if self.ca is not None:
            counts["community_alignment_rows"] = next(o.rows for o in self.outputs if o.config == "community-alignment")
            counts["community_alignment_rows_with_best_pick"] = self.ca.with_preference
        if self.openai is not None:
            counts["openai_lines"] = self.openai.counts["lines"]
        counts.update({f"{k}_events": v for k, v in event_counts.items()})
        if "amendments" in self.formats:
            counts["amendments"] = len(ctx.amendments)
        return counts


def _exclusions(ctx: Context, plan: MemberPlan) -> dict[str, Any]:
    return {
        "members": {
            "opted_out": plan.excluded_members.get("opted_out", 0),
            "no_consent": plan.excluded_members.get("no_consent", 0),
        },
        "reaction_events": {
            "opted_out": plan.excluded_events.get("opted_out", 0),
            "no_consent": plan.excluded_events.get("no_consent", 0),
        },
        "candidates": {k: ctx.withheld_candidates.get(k, 0) for k in ("opted_out", "no_consent", "erased", "source_erased")},
        "amendments_withheld": dict(Counter(a.withheld for a in ctx.amendments.values() if a.withheld)),
        "erased_members": ctx.privacy.erased_members,
        "consent_required": ctx.privacy.consent_required,
    }


def _reconcile(run: _Run, plan: MemberPlan, erased: int) -> dict[str, int]:
    """Reaction events: held − opted out − without consent − on withheld responses = exported."""
    t = run.tallies
    opted, no_consent = plan.excluded_events.get("opted_out", 0), plan.excluded_events.get("no_consent", 0)
    return {
        "held": t.events + opted + no_consent,
        "opted_out": opted,
        "no_consent": no_consent,
        "on_withheld": t.on_withheld,
        "exported": t.events - t.on_withheld,
        "erased": erased,
    }


async def _write(
    uow: Callable[[], UnitOfWork],
    request: ExportRequest,
    formats: tuple[str, ...],
    root: Path,
    key: bytes,
    now: datetime,
    opinion_groups: OpinionGroups | None,
) -> dict[str, Any]:
    run = _Run(request, formats, root, now)
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
        run.emitters(ctx, plan, latest_group, k_anonymous(given, request.k_anonymity))
        await run.members(s, ctx, plan, pseudonyms)
        event_counts: dict[str, int] = {}
        if "events" in run.formats:
            event_outputs, event_counts = await write_events(
                s, root, ctx, pseudonyms, jsonl=request.jsonl, parquet=request.parquet
            )
            run.outputs += event_outputs
        if "amendments" in run.formats:
            run.outputs += write_amendments(root, ctx, jsonl=request.jsonl, parquet=request.parquet)
        precedent_outputs, precedent_counts = await write_precedents(
            s, root, ctx, run.formats, jsonl=request.jsonl, parquet=request.parquet
        )
        run.outputs += precedent_outputs
        erased = await erased_counts(s, ctx.scope.community, ctx.round_ids)
    run.outputs = [_measured(root, o) for o in run.outputs]
    counts = {**run.count(ctx, event_counts), **precedent_counts}
    facts = CardFacts(
        outputs=run.outputs,
        counts=counts,
        exclusions=_exclusions(ctx, plan),
        reactions=_reconcile(run, plan, erased["reaction_events"]),
        group_sizes=group_sizes,
        attributes=aggregate_counts(given, request.k_anonymity),
        k=request.k_anonymity,
        now=now,
        system_prompt=request.system_prompt,
        not_written=run.not_written,
        openai=run.openai.counts if run.openai is not None else {},
        polis_unvoted=run.polis.unvoted() if run.polis is not None else {},
        long_conversations=run.ca.long_conversations if run.ca is not None else 0,
    )
    cards = [Output("README.md", "dataset-card", 0)]
    (root / "README.md").write_text(dataset_card(ctx, facts), encoding="utf-8")
    if request.jsonl and loadable(run.outputs, parquet=True):
        (root / PARQUET_DIR / "README.md").write_text(parquet_card(ctx, run.outputs), encoding="utf-8")
        cards.append(Output(f"{PARQUET_DIR}/README.md", "dataset-card", 0))
    manifest = _manifest(ctx, run, facts, [*cards, *run.outputs], erased)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def _measured(root: Path, o: Output) -> Output:
    """The output with its size and SHA-256 (JSON Lines writers hash as they write; the others are read)."""
    if o.bytes is not None and o.sha256 is not None:
        return o
    p = root / o.path
    return replace(o, bytes=p.stat().st_size, sha256=sha256_of(p))


def _file_entry(root: Path, o: Output) -> dict[str, Any]:
    o = _measured(root, o)
    size, digest = o.bytes, o.sha256
    entry: dict[str, Any] = {
        "path": o.path,
        "format": o.format,
        "rows": None if o.format == "dataset-card" else o.rows,
        "bytes": size,
        "sha256": digest,
    }
    if o.config:
        entry["config"] = o.config
    return entry


def _manifest(ctx: Context, run: _Run, facts: CardFacts, outputs: list[Output], erased: dict[str, int]) -> dict[str, Any]:
    return {
        "schema": MANIFEST_SCHEMA,
        "generated_at": run.now.astimezone(UTC).isoformat(),
        "community": ctx.scope.community,
        "platform": ctx.platform,
        "scope": {"kind": ctx.scope.kind, "round_id": ctx.scope.round_id, "policy": ctx.scope.policy, "rounds": ctx.round_ids},
        "policies": sorted({f"{r.policy} v{r.version}" for r in ctx.rounds.values()}),
        "formats": list(run.formats),
        "formats_not_written": run.not_written,
        "encodings": [e for e, on in (("jsonl", run.request.jsonl), ("parquet", run.request.parquet)) if on],
        "system_prompt_in_prompts": run.request.system_prompt,
        "licence": ctx.privacy.licence,
        "annotator_ids": "HMAC-SHA256(export secret, platform \\x1f community \\x1f member), 'a' + first 20 hex digits",
        "attributes_k": run.request.k_anonymity,
        "counts": facts.counts,
        "reaction_events": facts.reactions,
        "erased": erased,
        "exclusions": facts.exclusions,
        "openai": facts.openai,
        "files": [_file_entry(run.root, o) for o in outputs],
    }


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
