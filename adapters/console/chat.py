"""A ChatPort that renders posts as terminal text: the console is one channel on screen."""

from __future__ import annotations

import itertools
import sys
from typing import TextIO

from bot.commands import Actor
from bot.model import STANCE_EMOJI
from bot.outputs import Attachment, Post, Reply, render_times, utc_text


def render_post(post: Post, key: str) -> str:
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
        lines.append(f"file: {post.attachment.filename} ({len(post.attachment.data):,} bytes)")
    return "\n".join(indent + ln for ln in lines)


def render_reply(reply: Reply) -> str:
    mark = "✓" if reply.ok else "✗"
    body = render_times(reply.text, utc_text)
    for f in reply.fields:
        body += f"\n{f.name}: {f.value}"
    return f"{mark} {body}"


class ConsoleChat:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._ids = itertools.count(1)
        self.posts: dict[str, Post] = {}

    def _write(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def post(self, post: Post) -> str:
        key = f"m{next(self._ids)}"
        self.posts[key] = post
        self._write(render_post(post, key))
        return key

    async def edit(self, message_key: str, post: Post) -> None:
        self.posts[message_key] = post
        self._write("(edited) " + render_post(post, message_key))

    async def reply_privately(self, actor: Actor, reply: Reply) -> None:
        self._write(f"(to {actor.name}) {render_reply(reply)}")

    async def upload(self, channel: str, attachment: Attachment, text: str = "") -> str:
        key = f"m{next(self._ids)}"
        self._write(f"── file {attachment.filename} ({len(attachment.data):,} bytes) ──  [{key}] {text}")
        return key
