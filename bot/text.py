"""Fitting text to a platform's limits: cut with an ellipsis, or split into pieces that read
naturally. Platform-neutral; each adapter passes its own limits."""

from __future__ import annotations


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, broken at a paragraph, a line, a sentence or a word
    when one is near enough, so a long text reads naturally across messages. Never loses a character
    other than the whitespace at a break."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut_at = -1
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep)
            if at >= limit // 2:
                cut_at = at + (1 if sep == ". " else 0)
                break
        if cut_at <= 0:
            cut_at = limit
        pieces.append(rest[:cut_at].rstrip())
        rest = rest[cut_at:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces
