"""Domain vocabulary: the glossary's words as enums and small values, plus pure rules.

Nothing here touches storage or a platform; everything is unit-testable on its own.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction

from bot.errors import CommandError

MAX_TEXT = 4000  # characters: longest clause, scenario turn, amendment text or rationale
MAX_NAME = 64
MAX_K = 8
ERASED_AUTHOR = "[erased]"  # who wrote, proposed, opened or accepted a record whose member erased their data
ERASED_TEXT = "(erased by its author)"  # what stands in for a member's erased words
ANONYMOUS_MEMBER = "a member"  # how a member's writing is credited unless she chose to be named
ANONYMOUS_MODERATOR = "a moderator"  # how a moderator's actions are announced: the role, never the person


class Phase(enum.StrEnum):
    OPENING = "opening"  # candidates are being generated; not yet visible to members
    REVIEW = "review"
    AMEND = "amend"
    VOTE = "vote"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in (Phase.REVIEW, Phase.AMEND, Phase.VOTE)


NEXT_PHASE: dict[Phase, Phase] = {
    Phase.REVIEW: Phase.AMEND,
    Phase.AMEND: Phase.VOTE,
    Phase.VOTE: Phase.CLOSED,
}


class Stance(enum.StrEnum):
    ENDORSE = "endorse"
    OBJECT = "object"
    PASS = "pass"  # noqa: S105  (a stance, not a password)
    BEST = "best"  # "best of this scenario": one per member per scenario, beside the stance


STANCE_VOTE: dict[Stance, int] = {Stance.ENDORSE: 1, Stance.OBJECT: -1, Stance.PASS: 0}

# Neutral emoji for the stances; adapters translate their platform's names to these.
STANCE_EMOJI: dict[Stance, str] = {
    Stance.ENDORSE: "👍",
    Stance.OBJECT: "👎",
    Stance.PASS: "🤷",
    Stance.BEST: "⭐",
}
EMOJI_STANCE: dict[str, Stance] = {v: k for k, v in STANCE_EMOJI.items()}


class AmendmentKind(enum.StrEnum):
    ADD = "add"
    REPLACE = "replace"
    REMOVE = "remove"


class AmendmentStatus(enum.StrEnum):
    PROPOSED = "proposed"
    WITHDRAWN = "withdrawn"
    ADOPTED = "adopted"
    REJECTED = "rejected"


class AmendmentOrigin(enum.StrEnum):
    MEMBER = "member"
    BOT = "bot"


class BallotChoice(enum.StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class AuthorKind(enum.StrEnum):
    MODEL = "model"
    HUMAN = "human"


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class ClauseText:
    number: int  # 1-based position shown to members
    key: str  # stable id across versions, e.g. "c3"
    text: str


def utc(moment: datetime) -> datetime:
    """A moment with its time zone: SQLite hands back naive datetimes, and everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


# ---------------------------------------------------------------- validation helpers


def check_text(value: str, what: str, *, limit: int = MAX_TEXT) -> str:
    text = value.strip()
    if not text:
        raise CommandError(f"The {what} is empty.")
    if len(text) > limit:
        raise CommandError(f"The {what} is {len(text):,} characters long; the limit is {limit:,}.")
    return text


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_name(value: str, what: str = "policy name") -> str:
    name = value.strip()
    if not name or len(name) > MAX_NAME or not _NAME.match(name):
        raise CommandError(
            f"'{value[:80]}' is not a valid {what}: use 1-{MAX_NAME} letters, digits, '-', '_' or '.',"
            " starting with a letter or digit."
        )
    return name


# ---------------------------------------------------------------- policy text

_NUMBERED = re.compile(r"^\s*(?:[-*]\s*)?(\d+)[.)]\s+(.*)$")


_INLINE_NUMBER = re.compile(r"(?:^|(?<=\s))(\d+)[.)]\s+")


def _split_inline(text: str) -> list[str] | None:
    """'1. Be kind. 2. Cite sources.' on one line (as slash commands send it): split where the
    numbers run 1, 2, 3, … in order, preferring the latest occurrence of each number (so "2." inside
    a clause does not cut it); None if the line is not numbered that way."""
    found: dict[int, list[tuple[int, int]]] = {}
    for m in _INLINE_NUMBER.finditer(text):
        found.setdefault(int(m.group(1)), []).append((m.start(), m.end()))
    if not found.get(1) or found[1][0][0] != 0:
        return None
    for top in sorted((n for n in found if n >= 2), reverse=True):
        chain = [found[top][-1]]
        for k in range(top - 1, 0, -1):
            before = [p for p in found.get(k, []) if p[1] <= chain[0][0]]
            if not before:
                break
            chain.insert(0, before[-1] if k > 1 else before[0])
        if len(chain) == top and chain[0][0] == 0:
            bounds = [*chain, (len(text), len(text))]
            return [text[bounds[i][1] : bounds[i + 1][0]].strip() for i in range(top)]
    return None


def parse_clauses(text: str) -> list[str]:
    """Clauses from plain text or Markdown: numbered items ("1. ...", "2) ..."), with continuation
    lines joined to the item above. Headings and text before the first item are ignored; if the
    text has no numbered item at all, each non-empty line is one clause. A single line numbered
    1. … 2. … 3. … (as a slash command sends it) is split at its numbers."""
    stripped = text.strip()
    if "\n" not in stripped:
        inline = _split_inline(stripped)
        if inline is not None:
            text = "\n".join(f"{i}. {c}" for i, c in enumerate(inline, 1))
    lines = text.replace("\r\n", "\n").split("\n")
    clauses: list[list[str]] = []
    saw_number = False
    for raw in lines:
        m = _NUMBERED.match(raw)
        if m:
            saw_number = True
            clauses.append([m.group(2).strip()])
        elif saw_number and raw.strip() and not raw.lstrip().startswith("#"):
            clauses[-1].append(raw.strip())
    if not saw_number:
        clauses = [[ln.strip().lstrip("-* ").strip()] for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    result = [" ".join(parts).strip() for parts in clauses]
    result = [c for c in result if c]
    if not result:
        raise CommandError("The policy has no clauses: write one numbered clause per line, like '1. Be kind.'")
    if len(result) > 200:
        raise CommandError(f"The policy has {len(result)} clauses; the limit is 200.")
    for i, clause in enumerate(result, 1):
        check_text(clause, f"clause {i}")
    return result


def render_policy(name: str, version: int, clauses: list[ClauseText]) -> str:
    lines = [f"# {name} v{version}", ""]
    lines += [f"{c.number}. {c.text}" for c in clauses]
    return "\n".join(lines)


def diff_clauses(old: list[ClauseText], new: list[ClauseText]) -> list[str]:
    """A clause-level diff keyed by the stable clause ids, in the new version's order."""
    old_by_key = {c.key: c for c in old}
    new_keys = {c.key for c in new}
    out: list[str] = []
    for c in new:
        before = old_by_key.get(c.key)
        if before is None:
            out.append(f"+ {c.number}. {c.text}  [added, {c.key}]")
        elif before.text != c.text:
            out.append(f"~ {c.number}. {c.text}  [was: {before.text}] [{c.key}]")
    for c in old:
        if c.key not in new_keys:
            out.append(f"- {c.number}. {c.text}  [removed, {c.key}]")
    return out


# ---------------------------------------------------------------- tally rule


@dataclass(frozen=True, slots=True)
class TallyRule:
    """How ballots decide. quorum_count: ballots (abstain included) needed; quorum_share: share of
    the round's participants who must cast a ballot; threshold: yes / (yes + no) must exceed it
    (or reach it when inclusive). bridging_min_voters > 0 also requires the threshold inside every
    opinion group with at least that many voters."""

    quorum_count: int = 1
    quorum_share: float = 0.0
    threshold: Fraction = field(default=Fraction(1, 2))
    inclusive: bool = False
    bridging_min_voters: int = 0

    def describe(self) -> str:
        op = "≥" if self.inclusive else ">"
        parts = [f"yes share {op} {self.threshold}", f"quorum {self.quorum_count} ballot(s)"]
        if self.quorum_share:
            parts.append(f"and {self.quorum_share:.0%} of participants")
        if self.bridging_min_voters:
            parts.append(f"in every opinion group with ≥ {self.bridging_min_voters} voters")
        return ", ".join(parts)


def parse_threshold(value: str) -> tuple[Fraction, bool]:
    v = value.strip().replace(" ", "")
    inclusive = v.startswith(">=") or v.startswith("≥")
    v = v.removeprefix(">=").removeprefix("≥").removeprefix(">")
    try:
        frac = Fraction(v.rstrip("%")) / (100 if v.endswith("%") else 1)
    except (ValueError, ZeroDivisionError):
        raise CommandError(f"'{value[:40]}' is not a threshold: write e.g. >1/2, >=2/3 or >=60%.") from None
    if not (0 <= frac < 1 or (inclusive and frac == 1)):
        raise CommandError(f"The threshold {value} is out of range: it must be between 0 and 1.")
    return frac, inclusive


@dataclass(frozen=True, slots=True)
class TallyCount:
    yes: int
    no: int
    abstain: int

    @property
    def voters(self) -> int:
        return self.yes + self.no + self.abstain

    @property
    def yes_share(self) -> float:
        decided = self.yes + self.no
        return self.yes / decided if decided else 0.0

    def meets(self, rule: TallyRule) -> bool:
        decided = self.yes + self.no
        if decided == 0:
            return False
        share = Fraction(self.yes, decided)
        return share >= rule.threshold if rule.inclusive else share > rule.threshold


def quorum_needed(rule: TallyRule, participants: int) -> int:
    from math import ceil

    return max(rule.quorum_count, ceil(rule.quorum_share * participants))


CANDIDATE_LABELS = "ABCDEFGH"
