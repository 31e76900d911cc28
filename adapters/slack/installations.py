"""Which token a Slack Web API call uses: the workspace's own.

One workspace (SLACK_BOT_TOKEN): every call uses that token. OAuth mode: each workspace installed the
app through Bolt's OAuth flow (/slack/install → Slack → /slack/oauth_redirect), and Bolt's installation
store, slack_sdk's SQLAlchemy store on our database, keeps its bot token. Bolt's authorize gives each
request's listeners a client with the token of the request's workspace; the ChatPort's posts from the
scheduler and the outbox have no request, so `Workspaces.client(team)` reads the token from the same
store, and keeps it for a short while (token_cache_seconds).

An uninstalled workspace (app_uninstalled) or a revoked bot token (tokens_revoked) loses its
installation through Bolt's own listeners; its policies and rounds stay. A later post to it is
refused (ChatRefused, saying to install again), never retried in a loop: the outbox pauses the round."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.slack.settings import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH, SlackSettings
from bot.ports import ChatRefused, Refusal
from storage.tables import SLACK_BOTS, SLACK_INSTALLATIONS, SLACK_OAUTH_STATES

log = logging.getLogger("policybot.slack")

# The events of an app's own lifecycle (slack-manifest.yml subscribes to them; they need no scope).
LIFECYCLE_EVENTS = ("app_uninstalled", "tokens_revoked")
# Web API errors that mean the token itself is gone: the workspace must install the app again.
TOKEN_GONE = frozenset({"token_revoked", "invalid_auth", "account_inactive", "not_authed", "token_expired"})


def not_installed(team: str, why: str = "") -> Refusal:
    return Refusal(
        f"policybot is no longer installed in the Slack workspace {team}{f' (Slack: {why})' if why else ''}",
        f"a workspace admin installs it again from the bot's install link ({INSTALL_PATH}); "
        "the workspace's policies and rounds were kept, and /round resume posts what is waiting",
    )


class OneWorkspace:
    """Single-workspace mode: one token for everything, as before OAuth mode existed."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def client(self, team: str) -> AsyncWebClient:
        return self._client

    def forget(self, team: str) -> None:
        """Nothing to forget: the one token is the operator's to change."""


class InstalledWorkspaces:
    """OAuth mode: each workspace's bot token from the installation store, kept for `ttl` seconds."""

    def __init__(
        self, store: AsyncInstallationStore, *, api_url: str, retry_handlers: list[AsyncRetryHandler], ttl: float
    ) -> None:
        self.store = store
        self.api_url = api_url
        self.retry_handlers = retry_handlers
        self.ttl = ttl
        self._clients: dict[str, tuple[AsyncWebClient, float]] = {}  # team → (its client, when it was read)

    async def client(self, team: str) -> AsyncWebClient:
        if not team:
            raise ValueError("a Slack Web API call names no workspace")
        found = self._clients.get(team)
        if found is not None and time.monotonic() - found[1] < self.ttl:
            return found[0]
        bot = await self.store.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None or not bot.bot_token:
            self._clients.pop(team, None)
            raise ChatRefused(not_installed(team))
        client = AsyncWebClient(token=bot.bot_token, base_url=self.api_url, retry_handlers=self.retry_handlers)
        self._clients[team] = (client, time.monotonic())
        return client

    def forget(self, team: str) -> None:
        """The workspace's token is gone (uninstalled, revoked, refused by Slack): read it again next time."""
        self._clients.pop(team, None)


Workspaces = OneWorkspace | InstalledWorkspaces


def stores(slack: SlackSettings, engine: AsyncEngine) -> tuple[AsyncSQLAlchemyInstallationStore, AsyncSQLAlchemyOAuthStateStore]:
    """slack_sdk's own SQLAlchemy stores, async, on the bot's database (tables from migration 0009)."""
    assert slack.client_id is not None
    installations = AsyncSQLAlchemyInstallationStore(
        slack.client_id, engine, bots_table_name=SLACK_BOTS, installations_table_name=SLACK_INSTALLATIONS, logger=log
    )
    states = AsyncSQLAlchemyOAuthStateStore(slack.install_state_seconds, engine, logger=log, table_name=SLACK_OAUTH_STATES)
    return installations, states


def oauth_settings(
    slack: SlackSettings, installations: AsyncInstallationStore, states: AsyncSQLAlchemyOAuthStateStore
) -> AsyncOAuthSettings:
    """Bolt's OAuth flow: /slack/install sends the installer straight to Slack's consent page (with a
    one-time state, also set as a cookie); /slack/oauth_redirect checks that state, exchanges the code
    (oauth.v2.access) and saves the installation."""
    assert slack.client_id is not None and slack.client_secret is not None
    return AsyncOAuthSettings(
        client_id=slack.client_id,
        client_secret=slack.client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=slack.redirect_url,
        install_path=INSTALL_PATH,
        install_page_rendering_enabled=False,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=installations,
        state_store=states,
        state_expiration_seconds=slack.install_state_seconds,
        logger=log,
    )


def register_lifecycle(bolt: AsyncApp, workspaces: Workspaces) -> None:
    """app_uninstalled and tokens_revoked: Bolt's own listeners delete the workspace's tokens from
    the installation store (OAuth mode); this process forgets its copy at once. The workspace's data
    stays. In single-workspace mode there is no store: the operator is told the token is dead."""

    async def uninstalled(context: AsyncBoltContext) -> None:
        if isinstance(workspaces, InstalledWorkspaces):
            await bolt.default_app_uninstalled_event_listener()(context=context)
        _gone(context, "uninstalled")

    async def revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if isinstance(workspaces, InstalledWorkspaces):
            await bolt.default_tokens_revoked_event_listener()(event=event, context=context)
        if (event.get("tokens") or {}).get("bot"):
            _gone(context, "revoked its bot token")

    def _gone(context: AsyncBoltContext, what: str) -> None:
        team = str(context.team_id or "")
        workspaces.forget(team)
        if isinstance(workspaces, InstalledWorkspaces):
            log.warning("Slack workspace %s %s: its installation was deleted; its policies and rounds stay", team, what)
        else:
            log.warning("Slack workspace %s %s: SLACK_BOT_TOKEN no longer works; install the app again", team, what)

    bolt.event("app_uninstalled")(uninstalled)
    bolt.event("tokens_revoked")(revoked)
