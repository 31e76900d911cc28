"""The console adapter: a chat channel in the terminal, for playing or scripting a whole round.

Each line is a command, acted as the current member. `name> /cmd` acts as `name`; `name*> /cmd`
as `name` with moderator rights; `/as name [mod]` changes the current member. Lines starting with
'#' are comments. Works the same from a terminal or from a pipe."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import TextIO

from adapters.console.chat import ConsoleChat, render_reply
from bot.bootstrap import App
from bot.commands import Actor
from bot.errors import CommandError
from bot.parser import parse

_PERSONA = re.compile(r"^([A-Za-z0-9_.-]{1,40})(\*?)>\s*(.*)$", re.DOTALL)


class ConsoleSession:
    def __init__(
        self,
        app: App,
        chat: ConsoleChat,
        *,
        community: str = "console",
        channel: str = "general",
        member: str = "moderator",
        moderator: bool = True,
        base_dir: Path | None = None,
    ) -> None:
        self.app = app
        self.chat = chat
        self.community = community
        self.channel = channel
        self.base_dir = base_dir or Path.cwd()
        self.actor = self._actor(member, moderator)

    def _actor(self, member: str, moderator: bool) -> Actor:
        return Actor("console", self.community, member, member, moderator)

    def _read_file(self, path: str) -> str:
        p = (self.base_dir / path).expanduser()
        try:
            return p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CommandError(f"Cannot read '{path}': {e.__class__.__name__}: {e}") from None

    async def handle_line(self, line: str) -> str | None:
        """Run one line; returns the text to print for it (None for blank lines and comments)."""
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        actor = self.actor
        m = _PERSONA.match(text)
        if m:
            actor = self._actor(m.group(1), bool(m.group(2)))
            text = m.group(3)
        if text.startswith("/as"):
            parts = text.split()
            if len(parts) < 2 or len(parts) > 3 or (len(parts) == 3 and parts[2] != "mod"):
                return "✗ Usage: /as <member> [mod]"
            self.actor = self._actor(parts[1], len(parts) == 3)
            return f"✓ Now acting as {parts[1]}{' (moderator)' if len(parts) == 3 else ''}."
        try:
            cmd = parse(text, actor, self.channel, read_file=self._read_file)
        except CommandError as e:
            return render_reply_error(e.message)
        reply = await self.app.engine.dispatch(cmd)
        print(f"[{actor.name}] " + render_reply(reply), file=self.chat.out, flush=True)
        # The console waits for background work (generation) so that a script reads in order.
        await self.app.engine.drain()
        return None

    async def run(self, stream: TextIO, out: TextIO) -> None:
        interactive = stream.isatty()
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                out.write(f"{self.actor.name}{'*' if self.actor.is_moderator else ''}> ")
                out.flush()
            line = await loop.run_in_executor(None, stream.readline)
            if not line:
                break
            if line.strip() in ("/quit", "/exit"):
                break
            result = await self.handle_line(line)
            if result is not None:
                print(result, file=out, flush=True)


def render_reply_error(message: str) -> str:
    return f"✗ {message}"


def main_stream() -> TextIO:
    return sys.stdin
