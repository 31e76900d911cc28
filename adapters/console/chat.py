"""A ChatPort that renders posts as terminal text: the console is one channel on screen."""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path
from typing import TextIO

from bot.domain.commands import Actor
from bot.domain.model import STANCE_EMOJI
from bot.domain.outputs import Attachment, Post, Reply, render_times, utc_text
from bot.ports import Refusal


def render_post(post: Post, key: str, saved: Path | None = None) -> str:
    indent = "  │ " if post.thread_parent else ""
    lines = [f"── {post.title} ──  [{key}]"]
    if post.start_thread:
        lines[0] += f"  (thread: {post.start_thread})"
    if post.text:
        lines += render_times(post.text, utc_text).splitlines()
    for f in post.fields:
        lines.append(f"{f.name}: {render_times(f.value, utc_text)}")
    if post.seed_reactions:
        lines.append("react: " + "  ".join(f"{STANCE_EMOJI[s]} {s.value}" for s in post.seed_reactions))
    if post.buttons:
        lines.append("buttons: " + "  ".join(f"[{b.label}]" for b in post.buttons))
    if post.attachment:
        lines.append(_file_line(post.attachment, saved))
    return "\n".join(indent + ln for ln in lines)


def render_reply(reply: Reply, saved: Path | None = None) -> str:
    mark = "✓" if reply.ok else "✗"
    body = render_times(reply.text, utc_text)
    for f in reply.fields:
        body += f"\n{f.name}: {f.value}"
    if reply.attachment:
        body += "\n" + _file_line(reply.attachment, saved)
    return f"{mark} {body}"


def _file_line(attachment: Attachment, saved: Path | None) -> str:
    where = f" saved to {saved}" if saved is not None else ""
    return f"file: {attachment.filename} ({len(attachment.data):,} bytes){where}"


class ConsoleChat:
    """Files (charts, exports) are written to `files_dir`, as a chat client would download them."""

    def __init__(self, out: TextIO | None = None, files_dir: Path | None = None) -> None:
        self.out = out or sys.stdout
        self.files_dir = files_dir or Path("policybot-files")
        self._ids = itertools.count(1)
        self._files = itertools.count(1)
        self.posts: dict[str, Post] = {}

    def save(self, attachment: Attachment | None) -> Path | None:
        if attachment is None:
            return None
        # the name comes from the core, but never let it leave the files directory
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(attachment.filename).name) or "file"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / f"{next(self._files):03d}-{name}"
        path.write_bytes(attachment.data)
        return path

    def _write(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def post(self, post: Post, *, delivery_key: str = "") -> str:
        key = f"m{next(self._ids)}"
        self.posts[key] = post
        self._write(render_post(post, key, self.save(post.attachment)))
        return key

    async def can_post(self, actor: Actor, channel: str) -> Refusal | None:
        return None  # the terminal is always there

    async def edit(self, message_key: str, post: Post) -> None:
        self.posts[message_key] = post
        self._write("(edited) " + render_post(post, message_key, self.save(post.attachment)))

    async def reply_privately(self, actor: Actor, reply: Reply) -> None:
        self._write(f"(to {actor.name}) {render_reply(reply, self.save(reply.attachment))}")

    async def upload(self, channel: str, attachment: Attachment, text: str = "", *, community: str = "") -> str:
        key = f"m{next(self._ids)}"
        self._write(f"── {_file_line(attachment, self.save(attachment))} ──  [{key}] {text}")
        return key
