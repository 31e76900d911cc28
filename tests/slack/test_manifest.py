"""slack-manifest.yml asks for exactly what the adapter uses: its commands, its events, and the
scopes of the Web API methods it calls."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from adapters.slack.adapter import COMMANDS, EVENTS
from adapters.slack.installations import LIFECYCLE_EVENTS
from adapters.slack.run import EVENTS_PATH
from adapters.slack.settings import BOT_SCOPES, REDIRECT_PATH

ROOT = Path(__file__).resolve().parents[2]

# Each Web API method's bot scope, from its page in Slack's reference (docs.slack.dev/reference/methods).
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "reactions_add": "reactions:write",
    "users_info": "users:read",
    "usergroups_users_list": "usergroups:read",
    "usergroups_list": "usergroups:read",  # a group given by its @handle
    "views_open": None,  # needs only a trigger_id
    "conversations_open": "im:write",
    "files_upload_v2": "files:write",
    "conversations_info": "channels:read",  # and groups:read for private channels (below)
}


def manifest() -> dict:  # type: ignore[type-arg]
    return dict(yaml.safe_load((ROOT / "slack-manifest.yml").read_text(encoding="utf-8")))


def test_commands_and_events_are_the_adapters() -> None:
    m = manifest()
    commands = m["features"]["slash_commands"]
    assert [c["command"] for c in commands] == list(COMMANDS)
    assert all(c["url"].endswith(EVENTS_PATH) and c["should_escape"] is False for c in commands)
    assert m["settings"]["event_subscriptions"]["bot_events"] == [*EVENTS, *LIFECYCLE_EVENTS]
    assert m["settings"]["event_subscriptions"]["request_url"].endswith(EVENTS_PATH)
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["interactivity"]["request_url"].endswith(EVENTS_PATH)


def test_scopes_are_exactly_those_of_the_methods_called() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "adapters" / "slack").glob("*.py"))
    called = set(re.findall(r"client\.([a-z]+_[A-Za-z_0-9]+)\(", source))
    assert called == set(METHOD_SCOPES), called ^ set(METHOD_SCOPES)
    needed = {s for s in METHOD_SCOPES.values() if s} | {
        "commands",
        "reactions:read",
        "groups:read",
    }  # slash commands; reaction events
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed
    assert manifest()["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)  # what the OAuth flow asks for


def test_the_oauth_redirect_is_bolts() -> None:
    """OAuth mode: Slack sends the installer back to Bolt's redirect path on the same address."""
    [url] = manifest()["oauth_config"]["redirect_urls"]
    assert url.startswith("https://") and url.endswith(REDIRECT_PATH)
    assert "user" not in manifest()["oauth_config"]["scopes"]  # no user token is ever asked for
