"""The `policybot` command line (typer)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bot.settings import Settings

app = typer.Typer(help="policybot: community policymaking for LLMs (policy prototyping).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    from bot.settings import Settings

    return Settings()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to POLICYBOT_DATABASE_URL."""
    from storage.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo(f"Database at {settings.database_url} is up to date.")


@app.command()
def console(
    community: Annotated[str, typer.Option(help="community id the console acts in")] = "console",
    channel: Annotated[str, typer.Option(help="channel name rounds are posted in")] = "general",
    member: Annotated[str, typer.Option("--as", help="member to act as at start")] = "moderator",
    moderator: Annotated[bool, typer.Option("--mod/--no-mod", help="start with moderator rights")] = True,
    script: Annotated[Path | None, typer.Option(help="read commands from this file instead of standard input")] = None,
) -> None:
    """A chat channel in the terminal. Type /help for commands.

    Each line is a command: `/policy create kindness 1. Be kind. 2. Cite sources.`
    Act as another member with `alice> /react 3 endorse`, as a moderator with `bob*> /round advance 1`,
    or switch with `/as alice [mod]`. Standard input may be a pipe or a file, so rounds can be scripted."""
    from adapters.console.chat import ConsoleChat
    from adapters.console.repl import ConsoleSession
    from bot.bootstrap import bootstrap
    from storage.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)

    async def run() -> None:
        chat = ConsoleChat(sys.stdout)
        application = bootstrap(settings, chat)
        session = ConsoleSession(application, chat, community=community, channel=channel, member=member, moderator=moderator)
        try:
            if script is not None:
                with script.open(encoding="utf-8") as stream:
                    await session.run(stream, sys.stdout)
            else:
                await session.run(sys.stdin, sys.stdout)
        finally:
            await application.close()

    asyncio.run(run())


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
