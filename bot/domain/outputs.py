"""What the core answers with: platform-neutral values that adapters render."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain.model import Stance


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Button:
    """custom_id is a template the core parses back (see bot.inbound.actions), so buttons survive restarts."""

    custom_id: str
    label: str
    style: str = "secondary"  # "primary", "secondary", "success", "danger"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    data: bytes
    mime: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Subject:
    """What a post shows, so the message it becomes can be mapped back (reactions on a candidate)."""

    kind: str  # "candidate", "scenario", "round", "amendment"
    id: int


@dataclass(frozen=True, slots=True)
class Post:
    channel: str
    title: str
    text: str = ""
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    seed_reactions: tuple[Stance, ...] = ()
    thread_parent: str | None = None  # message key of the thread's parent: post inside that thread
    start_thread: str | None = None  # open a thread under this post with this name
    attachment: Attachment | None = None
    subject: Subject | None = None
    untrusted: bool = False  # text from a model or a member: never pings, always cut to limits
    # the community the post goes to: set on delivery (the outbox row's, the command's); a platform whose
    # channel ids name the community alone (Discord) ignores it, Slack picks the workspace's token by it
    community: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to the member who issued a command; private (ephemeral) unless public=True."""

    text: str
    ok: bool = True
    fields: tuple[Field, ...] = ()
    attachment: Attachment | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    reply: Reply
    posts: tuple[Post, ...] = ()
    edits: tuple[tuple[str, Post], ...] = field(default=())  # (message key, new content)


def error(message: str) -> Outcome:
    return Outcome(Reply(message, ok=False))


INTERNAL_ERROR = "Something went wrong on our side; nothing was changed. The error is in the bot's log."
FAILED_AFTER_CHANGE = (
    "Your command was carried out and saved, but something went wrong on our side afterwards; "
    "the error is in the bot's log. /round status shows where things stand."
)


def internal_error() -> Reply:
    """The reply when a command failed for a reason of ours before it changed anything."""
    return Reply(INTERNAL_ERROR, ok=False)


def failed_after_change() -> Reply:
    """The reply when a command failed for a reason of ours after its change was committed."""
    return Reply(FAILED_AFTER_CHANGE, ok=False)


def with_note(reply: Reply, note: str) -> Reply:
    """The reply with a note beside it (a post that failed after the change committed): still true
    about what was done, and marked as needing attention."""
    if not note:
        return reply
    return Reply(f"{reply.text}\n⚠ {note}", ok=False, fields=reply.fields, attachment=reply.attachment, public=reply.public)


# ---------------------------------------------------------------- posts and replies as JSON (the outbox, handled requests)


def _attachment_data(a: Attachment | None) -> dict[str, str] | None:
    if a is None:
        return None
    return {"filename": a.filename, "mime": a.mime, "data": base64.b64encode(a.data).decode("ascii")}


def _attachment(data: dict[str, str] | None) -> Attachment | None:
    if data is None:
        return None
    return Attachment(data["filename"], base64.b64decode(data["data"]), data["mime"])


def post_to_json(post: Post) -> str:
    data: dict[str, Any] = {
        "channel": post.channel,
        "title": post.title,
        "text": post.text,
        "fields": [[f.name, f.value, f.inline] for f in post.fields],
        "buttons": [[b.custom_id, b.label, b.style] for b in post.buttons],
        "seed_reactions": [s.value for s in post.seed_reactions],
        "thread_parent": post.thread_parent,
        "start_thread": post.start_thread,
        "attachment": _attachment_data(post.attachment),
        "subject": [post.subject.kind, post.subject.id] if post.subject else None,
        "untrusted": post.untrusted,
        "community": post.community,
    }
    return json.dumps(data, ensure_ascii=False)


def post_from_json(text: str) -> Post:
    d = json.loads(text)
    return Post(
        channel=d["channel"],
        title=d["title"],
        text=d["text"],
        fields=tuple(Field(n, v, i) for n, v, i in d["fields"]),
        buttons=tuple(Button(c, lbl, st) for c, lbl, st in d["buttons"]),
        seed_reactions=tuple(Stance(s) for s in d["seed_reactions"]),
        thread_parent=d["thread_parent"],
        start_thread=d["start_thread"],
        attachment=_attachment(d["attachment"]),
        subject=Subject(d["subject"][0], d["subject"][1]) if d["subject"] else None,
        untrusted=d["untrusted"],
        community=d.get("community", ""),  # rows written before posts carried it: the row's own is used
    )


def reply_to_json(reply: Reply) -> str:
    data = {
        "text": reply.text,
        "ok": reply.ok,
        "fields": [[f.name, f.value, f.inline] for f in reply.fields],
        "attachment": _attachment_data(reply.attachment),
        "public": reply.public,
    }
    return json.dumps(data, ensure_ascii=False)


def reply_from_json(text: str) -> Reply:
    d = json.loads(text)
    fields = tuple(Field(n, v, i) for n, v, i in d["fields"])
    return Reply(d["text"], d["ok"], fields, _attachment(d["attachment"]), d["public"])


# ---------------------------------------------------------------- times

# Posts carry times as a neutral token; each adapter renders it in the member's locale where the
# platform can (Discord <t:…:F>, Slack <!date^…>), and the console prints UTC.
_TIME_TOKEN = re.compile(r"⟦time:(\d+)⟧")


def time_token(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"⟦time:{int(moment.timestamp())}⟧"


def strip_time_tokens(text: str) -> str:
    """Member or model text with any time token removed: only the core writes them, so one typed by
    a member must not render as a real date."""
    return _TIME_TOKEN.sub("", text)


def render_times(text: str, render: Callable[[int], str]) -> str:
    return _TIME_TOKEN.sub(lambda m: render(int(m.group(1))), text)


def utc_text(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- fitting text to limits
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
