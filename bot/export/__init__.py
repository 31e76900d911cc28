"""Research-grade export: training-ready formats with provenance, pseudonymous annotators,
consent and opt-out honoured, a dataset card and a checksummed manifest, streamed in constant memory.

Entry points: `export_bundle` (library and CLI), the moderator chat commands in bot.handlers.export."""

from bot.export.bundle import ExportRequest, ExportResult, check_formats, export_bundle, verify_bundle, zip_bundle
from bot.export.context import Scope
from bot.export.formats import FORMATS
from bot.export.pseudonym import annotator_id

__all__ = [
    "FORMATS",
    "ExportRequest",
    "ExportResult",
    "Scope",
    "annotator_id",
    "check_formats",
    "export_bundle",
    "verify_bundle",
    "zip_bundle",
]
