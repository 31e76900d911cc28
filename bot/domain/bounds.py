"""What the database can hold, checked at the boundary for every adapter: a command whose numbers or
text could not be stored is refused with a clear ✗ naming the value, before any handler runs, instead
of failing a transaction (PostgreSQL rejects NUL in text and integers beyond 32 bits in `integer`
columns; SQLite stores both, so the same input must be refused on both).

Model text is not refused but made storable on arrival (`storable_text`): NFC, no NUL, no lone
surrogates, no other control characters than tab and line breaks."""

from __future__ import annotations

import dataclasses
import enum
import unicodedata
from datetime import UTC, datetime

from bot.errors import CommandError

MAX_INT = 2**31 - 1  # PostgreSQL `integer`, the type of every id and count column
MIN_INT = -(2**31)
# the moments a round's times may take: beyond them Python's datetime overflows on time-zone
# conversion (year 1 and 9999), and nothing a round schedules is that far off
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, tzinfo=UTC)

_CONTROL = {chr(c) for c in range(0x20)} - {"\t", "\n", "\r"} | {"\x7f"}
_CONTROL_TABLE = dict.fromkeys(map(ord, _CONTROL))


def _label(name: str) -> str:
    return name.replace("_", " ")


def _field_names(cls: type) -> tuple[str, ...]:
    """The fields of a dataclass type (none for other types), looked up once per type: every
    command passes through check_command, reactions by the thousand a second."""
    found = _FIELDS.get(cls)
    if found is None:
        found = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
        _FIELDS[cls] = found
    return found


_FIELDS: dict[type, tuple[str, ...]] = {}


def _check_value(value: object, name: str) -> None:
    """Raise CommandError if `value` (or, for tuples and nested dataclasses such as Actor and Turn,
    any value inside it) cannot be stored; `name` is the field it sits in."""
    if value is None or isinstance(value, bool | enum.Enum):
        return
    if isinstance(value, str):
        why = _unstorable(value)
        if why is not None:
            raise CommandError(f"The {_label(name)} contains {why}, which cannot be stored; remove it and try again.")
    elif isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            shown = str(value) if len(str(value)) <= 24 else str(value)[:20] + "…"
            raise CommandError(f"The {_label(name)} {shown} is out of range: numbers here go up to {MAX_INT:,}.")
    elif isinstance(value, tuple | list):
        for item in value:
            _check_value(item, name)
    elif not isinstance(value, type):
        for field_name in _field_names(type(value)):
            _check_value(getattr(value, field_name), field_name)


def _unstorable(text: str) -> str | None:
    """Why a text cannot be stored as it is, or None."""
    if "\x00" in text:
        return "a NUL character (\\x00)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate code point (half of an emoji's UTF-16 pair)"
    return None


def check_command(cmd: object) -> None:
    """Raise CommandError for the first value of `cmd` the database cannot hold."""
    _check_value(cmd, "command")


def check_moment(moment: datetime, shown: str) -> datetime:
    """A date and time within the range a round can use; a clear ✗ otherwise."""
    if not EARLIEST <= moment <= LATEST:
        raise CommandError(f"{shown[:60]} is out of range: give a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}.")
    return moment


def storable_text(text: str) -> str:
    """Text from outside (a model's answer) as the database can hold it: lone surrogates become
    U+FFFD (a pair split in two is joined again), NUL and other control characters are dropped,
    and the result is in Unicode NFC."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return unicodedata.normalize("NFC", text.translate(_CONTROL_TABLE))
