"""Moderator chat commands of the export: /export (the bundle as a zip in the reply) and /export settings.

Every query is scoped to the moderator's own community: a round or policy of another community is
simply 'not found', so no moderator can export another community's data."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.domain.commands import ExportData, ExportSettings
from bot.domain.outputs import Attachment, Field, Outcome, Reply
from bot.errors import CommandError
from bot.export.bundle import ExportRequest, export_bundle, zip_bundle
from bot.export.context import DEFAULT_LICENCE, Scope
from bot.rounds.queries import require_moderator
from bot.services import Services
from storage.tables import CommunityExportSettingsRow

MAX_CHAT_BYTES = 8 * 1024 * 1024  # fits every platform's upload limit; larger exports go through the CLI
_LICENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$")


@dataclass
class _Zipped:
    data: bytes | None
    size: int


def _zip(directory: Path, target: Path) -> _Zipped:
    zip_bundle(directory, target)
    size = target.stat().st_size
    return _Zipped(target.read_bytes() if size <= MAX_CHAT_BYTES else None, size)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:40].strip("-") or "community"


async def export_data(cmd: ExportData, svc: Services) -> Outcome:
    require_moderator(cmd.actor, "export the community's data")
    if cmd.round_id is not None and cmd.policy is not None:
        raise CommandError("Export one round or one policy's rounds, not both.")
    scope = Scope(cmd.actor.community, cmd.round_id, cmd.policy)
    request = ExportRequest(scope, formats=cmd.formats, jsonl=True, parquet=cmd.parquet)
    what = f"round-{cmd.round_id}" if cmd.round_id is not None else f"policy-{_slug(cmd.policy)}" if cmd.policy else "all"
    name = f"policybot-export-{_slug(cmd.actor.community)}-{what}-{svc.now():%Y%m%d-%H%M%S}"
    tmp = Path(tempfile.mkdtemp(prefix="policybot-export-"))
    try:
        result = await export_bundle(
            svc.uow,
            request,
            tmp / name,
            secret=svc.options.export_secret or None,
            now=svc.now(),
            opinion_groups=svc.opinion_groups,
        )
        zipped = _zip(result.directory, tmp / f"{name}.zip")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if zipped.data is None:
        raise CommandError(
            f"The export is {zipped.size / 1e6:.1f} MB zipped, too large to send in chat (limit {MAX_CHAT_BYTES / 1e6:.0f} MB). "
            "Export a single round, fewer formats, or run `policybot export` on the server."
        )
    counts = result.manifest["counts"]
    excl = result.manifest["exclusions"]
    left_out = excl["members"]["opted_out"] + excl["members"]["no_consent"]
    return Outcome(
        Reply(
            f"Export of {scope.describe()}: {counts['annotators']} annotators, {counts['comparisons']} comparisons, "
            f"{left_out} members left out (opted out or without consent). Dataset card and checksums are inside.",
            fields=(
                Field("Formats", ", ".join(result.manifest["formats"])),
                Field("Licence", str(result.manifest["licence"])),
            ),
            attachment=Attachment(f"{name}.zip", zipped.data, "application/zip"),
        )
    )


async def export_settings(cmd: ExportSettings, svc: Services) -> Outcome:
    community = cmd.actor.community
    if cmd.licence is None and cmd.consent_required is None:
        async with svc.uow() as uow:
            row = await uow.session.get(CommunityExportSettingsRow, community)
        licence = row.licence if row else DEFAULT_LICENCE
        required = bool(row and row.consent_required)
        return Outcome(
            Reply(
                f"Exports of this community carry the licence {licence}; members' data is exported "
                + ("only with their consent (/privacy consent yes)." if required else "unless they opt out (/privacy optout).")
            )
        )
    require_moderator(cmd.actor, "change the export settings")
    if cmd.licence is not None and not _LICENCE.match(cmd.licence.strip()):
        raise CommandError("Give the licence as an SPDX-style id, e.g. CC-BY-4.0, CC0-1.0 or ODC-By-1.0.")
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        row = await s.get(CommunityExportSettingsRow, community)
        if row is None:
            row = CommunityExportSettingsRow(community=community, updated_by=cmd.actor.member, updated_at=now)
        if cmd.licence is not None:
            row.licence = cmd.licence.strip()
        if cmd.consent_required is not None:
            row.consent_required = cmd.consent_required
        row.updated_by = cmd.actor.member
        row.updated_at = now
        s.add(row)
        await uow.commit()
        licence, required = row.licence, row.consent_required
    return Outcome(
        Reply(
            f"Export settings saved: licence {licence}; "
            + ("members must consent before their data is exported." if required else "members are exported unless they opt out.")
        )
    )
