"""The `policybot` command line (typer): the entry point that assembles the core with an adapter. It
lives with the adapters because it wires them; the core never imports it."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    from bot.settings import Settings

S = TypeVar("S", bound="BaseSettings")

app = typer.Typer(help="policybot: community policymaking for LLMs (policy prototyping).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    from bot.settings import Settings

    return load_settings(Settings)


def load_settings(kind: type[S]) -> S:
    """Settings from the environment, or a clear message naming each bad variable (and nothing done)."""
    from pydantic import ValidationError

    try:
        return kind()
    except ValidationError as e:
        prefix = str(kind.model_config.get("env_prefix", ""))
        for err in e.errors():
            name = prefix + "_".join(str(part) for part in err["loc"]).upper()
            typer.echo(f"{name}: {err['msg']} (got {err.get('input')!r})", err=True)
        raise typer.Exit(2) from None


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
    files: Annotated[Path, typer.Option(help="directory where files the bot sends (charts, exports) are saved")] = Path(
        "policybot-files"
    ),
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
        chat = ConsoleChat(sys.stdout, files_dir=files)
        application = bootstrap(settings, chat)
        session = ConsoleSession(application, chat, community=community, channel=channel, member=member, moderator=moderator)
        async with application.running():
            if script is not None:
                with script.open(encoding="utf-8") as stream:
                    await session.run(stream, sys.stdout)
            else:
                await session.run(sys.stdin, sys.stdout)

    asyncio.run(run())


# ---------------------------------------------------------------- running on a platform

run_app = typer.Typer(help="Run the bot on a chat platform.", no_args_is_help=True)
app.add_typer(run_app, name="run")


@run_app.command("discord")
def run_discord(
    guild: Annotated[int | None, typer.Option(help="a server id: register the commands there at once (development)")] = None,
    sync: Annotated[bool, typer.Option("--sync/--no-sync", help="register the slash commands with Discord at start-up")] = True,
    shard_count: Annotated[
        int | None, typer.Option(help="shards in all (default: Discord's recommendation, all in this process)")
    ] = None,
    shards: Annotated[
        str | None, typer.Option(help="with --shard-count: the shards this process runs, e.g. 0-3 (default: all)")
    ] = None,
) -> None:
    """Run the Discord bot with DISCORD_TOKEN (the README's Discord section walks through the set-up)."""
    from adapters.discord.run import Shards, run
    from adapters.discord.settings import DiscordSettings
    from storage.migrate import upgrade

    if shards is not None and shard_count is None:
        typer.echo("--shards needs --shard-count (the number of shards of all processes together).", err=True)
        raise typer.Exit(2)
    try:
        running = Shards.parse(shard_count, shards) if shard_count is not None else None
    except ValueError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    settings = _settings()
    discord_settings = load_settings(DiscordSettings)
    upgrade(settings.database_url)
    logging.getLogger("policybot").setLevel(logging.INFO)
    asyncio.run(run(settings, discord_settings, guild_id=guild, sync=sync, shards=running))


@run_app.command("slack")
def run_slack(
    mode: Annotated[str, typer.Option(help="auto (Socket Mode when SLACK_APP_TOKEN is set), http or socket")] = "auto",
    port: Annotated[int | None, typer.Option(help="HTTP mode: port for /slack/events (default: POLICYBOT_SLACK_PORT)")] = None,
) -> None:
    """Run the Slack app with SLACK_BOT_TOKEN: over HTTP with SLACK_SIGNING_SECRET, or Socket Mode with SLACK_APP_TOKEN."""
    from adapters.slack.run import run as run_on_slack
    from adapters.slack.settings import SlackSettings
    from storage.migrate import upgrade

    if mode not in ("auto", "http", "socket"):
        typer.echo("--mode is auto, http or socket.", err=True)
        raise typer.Exit(2)
    settings = _settings()
    slack_settings = load_settings(SlackSettings)
    upgrade(settings.database_url)
    logging.getLogger("policybot").setLevel(logging.INFO)
    asyncio.run(run_on_slack(settings, slack_settings, mode=mode, port=port))  # type: ignore[arg-type]


discord_app = typer.Typer(help="Discord set-up helpers.", no_args_is_help=True)
app.add_typer(discord_app, name="discord")


@discord_app.command("invite-url")
def discord_invite_url(
    application_id: Annotated[int | None, typer.Option(help="the application id (default: read from DISCORD_TOKEN)")] = None,
    guild: Annotated[int | None, typer.Option(help="preselect this server in the invite dialog")] = None,
) -> None:
    """Print the invite URL with exactly the scopes (bot, applications.commands) and permissions policybot needs."""
    from adapters.discord.invite import SCOPES, application_id_from_token, invite_url, permission_names, required_permissions
    from adapters.discord.settings import DiscordSettings

    settings = load_settings(DiscordSettings)
    if application_id is None and settings.token is not None:
        application_id = application_id_from_token(settings.token.get_secret_value())
    if application_id is None:
        typer.echo("Give --application-id (Developer Portal → your app → General Information), or set DISCORD_TOKEN.", err=True)
        raise typer.Exit(2)
    typer.echo(invite_url(application_id, guild))
    typer.echo(f"scopes: {' '.join(SCOPES)}")
    typer.echo(f"permissions: {required_permissions().value} ({', '.join(permission_names())})")


@app.command("export")
def export(
    community: Annotated[str, typer.Option(help="the community (guild or workspace id) whose data is exported")],
    out: Annotated[Path, typer.Option(help="output directory (created; must not exist yet)")],
    round_id: Annotated[int | None, typer.Option("--round", help="export this round only")] = None,
    policy: Annotated[str | None, typer.Option(help="export every round of this policy")] = None,
    formats: Annotated[
        str,
        typer.Option(
            help="comma-separated: trl, trl-standard, kto, openai, polis, community-alignment, events, amendments, "
            "precedents, precedent-checks, all"
        ),
    ] = "all",
    parquet: Annotated[bool, typer.Option("--parquet/--no-parquet", help="also write Parquet files (under parquet/)")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl/--no-jsonl", help="write the JSON Lines and CSV files")] = True,
    policy_prompt: Annotated[
        bool,
        typer.Option(
            "--policy-prompt/--no-policy-prompt",
            help="start the TRL, KTO and OpenAI prompts with the policy as the system message the candidates answered under",
        ),
    ] = False,
    make_zip: Annotated[bool, typer.Option("--zip/--no-zip", help="also write OUT.zip")] = False,
    k: Annotated[int, typer.Option(help="attributes: suppress values held by fewer than k members")] = 5,
) -> None:
    """Export research data: training formats, dataset card, checksums.

    Needs POLICYBOT_EXPORT_SECRET for the pseudonymous annotator ids. Members who opted out (and, where
    the community requires consent, those who have not given it) are left out of every file."""
    from bot.errors import CommandError
    from bot.export.cli import ExportRequest, Scope, run_export, summary

    if round_id is not None and policy is not None:
        typer.echo("Give --round or --policy, not both.", err=True)
        raise typer.Exit(2)
    scope = Scope(community, round_id, policy)
    request = ExportRequest(
        scope, tuple(formats.split(",")), jsonl=jsonl, parquet=parquet, k_anonymity=k, system_prompt=policy_prompt
    )
    try:
        result, zipped = asyncio.run(run_export(_settings(), request, out, make_zip=make_zip))
    except CommandError as e:
        typer.echo(e.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(summary(result, zipped))


analyse_app = typer.Typer(help="Analyse conversations from elsewhere.", no_args_is_help=True)
app.add_typer(analyse_app, name="analyse")


@analyse_app.command("polis")
def analyse_polis(
    directory: Annotated[Path, typer.Argument(help="a Polis CSV export: comments.csv and votes.csv (or participants-votes.csv)")],
    json_out: Annotated[Path | None, typer.Option("--json", help="write k, groups, consensus and repness as JSON here")] = None,
    chart: Annotated[Path | None, typer.Option(help="write the opinion map (PNG) here")] = None,
) -> None:
    """Polis's opinion groups, group-aware consensus, consensus and representative statements of a
    Polis conversation, computed as Polis's math does."""
    import json

    from bot.analysis.charts import opinion_map_png
    from bot.analysis.polis_export import NotAPolisExport, analyse_export, read_export, summary_text

    try:
        report = analyse_export(read_export(directory))
    except NotAPolisExport as e:
        typer.echo(f"Not a Polis export: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(summary_text(report, str(directory)))
    outputs: list[tuple[Path, bytes]] = []
    if json_out is not None:
        outputs.append((json_out, (json.dumps(report.as_json(), indent=2) + "\n").encode("utf-8")))
    if chart is not None:
        outputs.append((chart, opinion_map_png(report.groups, f"Opinion groups of {directory.name}")))
    for path, data in outputs:
        try:
            path.write_bytes(data)
        except OSError as e:
            typer.echo(f"Could not write {path}: {e.strerror}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Wrote {path}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
