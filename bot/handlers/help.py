"""`/help [topic]`: the usage of every command the asking platform offers, or of one area."""

from __future__ import annotations

from bot.domain.commands import Help
from bot.domain.outputs import Outcome, Reply
from bot.inbound.help import help_text
from bot.services import Services


async def show_help(cmd: Help, svc: Services) -> Outcome:
    return Outcome(Reply(help_text(cmd.topic, cmd.commands)))
