"""The engine: dispatches each command to its one handler (bot/handlers), publishes the resulting
posts, and turns every CommandError into a private error reply with nothing changed."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.domain import commands as c
from bot.domain.bounds import check_command
from bot.domain.outputs import Reply, internal_error
from bot.errors import CommandError
from bot.handlers import HANDLERS, Handler
from bot.rounds.publishing import publish_all
from bot.services import Services

log = logging.getLogger("policybot.engine")


class Engine:
    def __init__(self, services: Services, handlers: Mapping[type[c.Command], Handler] = HANDLERS) -> None:
        self.services = services
        self.handlers = handlers

    async def dispatch(self, cmd: c.Command) -> Reply:
        """Handle one command. Adapters acknowledge the platform first, then call this."""
        handler = self.handlers.get(type(cmd))
        if handler is None:
            return Reply(f"Unknown command {type(cmd).__name__}.", ok=False)
        try:
            check_command(cmd)  # what the database cannot hold is refused here, for every adapter
            outcome = await handler(cmd, self.services)
        except CommandError as e:
            return Reply(e.message, ok=False)
        except Exception:
            log.exception("command %s failed", type(cmd).__name__)
            return internal_error()
        await publish_all(self.services, outcome.posts)
        for key, post in outcome.edits:
            await self.services.chat.edit(key, post)
        return outcome.reply

    async def drain(self) -> None:
        await self.services.drain()

    async def close(self) -> None:
        await self.services.drain()
        await self.services.recorder.close()
        await self.services.appender.close()
