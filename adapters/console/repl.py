"""The console adapter: a chat channel in the terminal, for playing or scripting a whole round.

Each line is a command, acted as the current member. `name> /cmd` acts as `name`; `name*> /cmd`
as `name` with moderator rights; `/as name [mod]` changes the current member. Lines starting with
'#' are comments. Works the same from a terminal or from a pipe."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from pathlib import Path
from typing import TextIO

from adapters.console.chat import ConsoleChat, render_reply
from bot.bootstrap import App
from bot.domain.commands import Actor, PlatformCommands, RecordReaction
from bot.errors import CommandError
from bot.inbound.parser import command_names, parse

_PERSONA = re.compile(r"^([A-Za-z0-9_.-]{1,40})(\*?)>\s*(.*)$", re.DOTALL)

# The console reads every command of the core's text parser, spelled as the parser reads it, and two of its own.
CONSOLE_COMMANDS = PlatformCommands(
    spelling={name.split()[0]: "/" + name.split()[0] for name in command_names()},
    own={"console": "/as <member> [mod]   (act as another member; mod: with moderator rights)\n/quit   (or /exit)"},
)


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

    def emit(self, text: str) -> None:
        print(text, file=self.chat.out, flush=True)

    async def handle_line(self, line: str, *, event_key: str | None = None) -> str | None:
        """Run one line and print its reply; returns the reply (None for blank lines and comments).
        `event_key` stands for the platform's event id, to replay a delivery (tests)."""
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
                result = "✗ Usage: /as <member> [mod]"
            else:
                self.actor = self._actor(parts[1], len(parts) == 3)
                result = f"✓ Now acting as {parts[1]}{' (moderator)' if len(parts) == 3 else ''}."
            self.emit(result)
            return result
        try:
            cmd = parse(text, actor, self.channel, read_file=self._read_file, event_key=event_key, commands=CONSOLE_COMMANDS)
            if not isinstance(cmd, RecordReaction):  # reactions keep their own event keys
                # each line is its own request; a replayed delivery (event_key) is the same request
                cmd = dataclasses.replace(cmd, request_key=f"console:{event_key or uuid.uuid4().hex}")
        except CommandError as e:
            result = f"[{actor.name}] ✗ {e.message}"
            self.emit(result)
            return result
        reply = await self.app.engine.dispatch(cmd)
        result = f"[{actor.name}] " + render_reply(reply, self.chat.save(reply.attachment))
        self.emit(result)
        # The console waits for background work (generation) so that a script reads in order.
        await self.app.engine.drain()
        return result

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
            await self.handle_line(line)
