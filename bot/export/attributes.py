"""Self-described member attributes (given only with consent) and their aggregate-safe export.

A member's attributes reach an export only as k-anonymous values: a value shared by fewer than k
exported members is replaced by SUPPRESSED, and if a member's whole combination of values is still
shared by fewer than k members, all of that member's values are suppressed. The dataset card shows
the counts per value with the same rule."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping

from bot.errors import CommandError

SUPPRESSED = "suppressed"
AGE_BANDS = ("under-18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
ATTRIBUTES: dict[str, str] = {
    "country": "country or region, e.g. FR or Brazil",
    "age": "age band: " + ", ".join(AGE_BANDS),
    "gender": "gender, in your own words",
    "language": "first language, e.g. en, pt",
}
_VALUE = re.compile(r"^[\w .,'+()/-]{1,40}$", re.UNICODE)


def check_attributes(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in pairs:
        name = key.strip().lower()
        if name not in ATTRIBUTES:
            known = ", ".join(f"{k} ({v})" for k, v in ATTRIBUTES.items())
            raise CommandError(f"'{key[:30]}' is not an attribute the bot records. Known: {known}.")
        value = raw.strip()
        if not _VALUE.match(value):
            raise CommandError(f"The value of {name} must be 1-40 letters, digits, spaces or simple punctuation.")
        if name == "age" and value not in AGE_BANDS:
            raise CommandError(f"Give age as a band: {', '.join(AGE_BANDS)}.")
        if name == "country":
            value = value.upper() if len(value) <= 3 else value
        out[name] = value
    return out


def parse_attributes_json(text: str) -> dict[str, str]:
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return {k: str(v) for k, v in data.items() if k in ATTRIBUTES} if isinstance(data, dict) else {}


def k_anonymous(attributes: Mapping[str, Mapping[str, str]], k: int) -> dict[str, dict[str, str]]:
    """member → {attribute: value or SUPPRESSED or ""} for every known attribute, k-anonymous."""
    counts = {name: Counter(a[name] for a in attributes.values() if a.get(name)) for name in ATTRIBUTES}
    generalised: dict[str, dict[str, str]] = {}
    for member, attrs in attributes.items():
        row: dict[str, str] = {}
        for name in ATTRIBUTES:
            value = attrs.get(name, "")
            row[name] = value if not value or counts[name][value] >= k else SUPPRESSED
        generalised[member] = row
    combos = Counter(tuple(row[n] for n in ATTRIBUTES) for row in generalised.values())
    for row in generalised.values():
        if combos[tuple(row[n] for n in ATTRIBUTES)] < k and any(row.values()):
            for name in ATTRIBUTES:
                row[name] = SUPPRESSED if row[name] else ""
    return generalised


def aggregate_counts(attributes: Mapping[str, Mapping[str, str]], k: int) -> dict[str, dict[str, int]]:
    """attribute → value → members, values held by fewer than k members folded into SUPPRESSED."""
    out: dict[str, dict[str, int]] = {}
    for name in ATTRIBUTES:
        counts = Counter(a[name] for a in attributes.values() if a.get(name))
        shown: dict[str, int] = {}
        hidden = 0
        for value, n in sorted(counts.items()):
            if n >= k:
                shown[value] = n
            else:
                hidden += n
        if hidden:
            shown[SUPPRESSED] = hidden
        if shown:
            out[name] = shown
    return out
