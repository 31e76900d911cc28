"""`policybot export`: the same bundle as the chat command, written to a directory (and a zip) on the
server, for exports too large for chat. Scoped to one community, like everything else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.analysis.loading import opinion_groups
from bot.export.bundle import ExportRequest, ExportResult, export_bundle, zip_bundle
from bot.export.context import Scope
from bot.settings import Settings
from storage.database import Database
from storage.uow import UnitOfWorkFactory


async def run_export(
    settings: Settings, request: ExportRequest, out: Path, *, make_zip: bool, with_groups: bool = True
) -> tuple[ExportResult, Path | None]:
    database = Database(settings.database_url)
    try:
        result = await export_bundle(
            UnitOfWorkFactory(database),
            request,
            out,
            secret=settings.export_secret.get_secret_value() if settings.export_secret else None,
            now=datetime.now(UTC),
            opinion_groups=opinion_groups if with_groups else None,
        )
    finally:
        await database.dispose()
    zipped = zip_bundle(out, out.with_name(out.name + ".zip")) if make_zip else None
    return result, zipped


def summary(result: ExportResult, zipped: Path | None) -> str:
    m = result.manifest
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in m["counts"].items())
    excl = m["exclusions"]
    lines = [
        f"Exported {m['scope']['kind']} of community {m['community']} to {result.directory}",
        f"  {counts}",
        f"  left out: {excl['members']['opted_out']} opted-out members, {excl['members']['no_consent']} without consent",
    ]
    r = m["reaction_events"]
    lines.append(
        f"  reaction events: {r['held']} held − {r['opted_out']} opted out − {r['no_consent']} without consent"
        f" − {r['on_withheld']} on withheld responses = {r['exported']} exported ({r['erased']} erased, not held)"
    )
    if m["formats_not_written"]:
        lines.append("  not written: " + "; ".join(f"{k} ({v})" for k, v in m["formats_not_written"].items()))
    lines += [
        f"  {f['path']}: {f['rows'] if f['rows'] is not None else '-'} rows, sha256 {f['sha256'][:16]}…" for f in m["files"]
    ]
    if zipped is not None:
        lines.append(f"  zip: {zipped}")
    return "\n".join(lines)


__all__ = ["ExportRequest", "Scope", "run_export", "summary"]
