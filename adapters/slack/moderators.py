"""Who is a moderator on Slack: a workspace admin or owner (users.info), or a member of the user
group named by POLICYBOT_SLACK_MODERATOR_GROUP (usergroups.users.list). The adapter resolves this
and passes it to the core in Actor.is_moderator; the core enforces it.

Answers are cached for a minute: usergroups.users.list is a Tier 2 method (about 20 calls a minute).
Each workspace is asked with its own token, and its answers are kept apart."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError

from adapters.slack.installations import Workspaces
from bot.ports import ChatRefused

log = logging.getLogger("policybot.slack")


class SlackModerators:
    def __init__(self, workspaces: Workspaces, group: str | None = None, ttl: float = 60.0) -> None:
        self.workspaces = workspaces
        self.group = group or None
        self.ttl = ttl
        self._admins: dict[tuple[str, str], tuple[bool, float]] = {}  # (team, user) → (admin?, when)
        self._group: dict[str, tuple[frozenset[str], float]] = {}  # team → (the group's members, when)

    async def is_admin(self, team: str, user: str) -> bool:
        found = self._admins.get((team, user))
        if found is not None and time.monotonic() - found[1] < self.ttl:
            return found[0]
        try:
            client = await self.workspaces.client(team)
            info = (await client.users_info(user=user)).get("user") or {}
        except (SlackApiError, ChatRefused) as e:
            log.warning("users.info for %s failed: %s", user, e)
            return False
        admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._admins[(team, user)] = (admin, time.monotonic())
        return admin

    async def group_members(self, team: str) -> frozenset[str]:
        if self.group is None:
            return frozenset()
        found = self._group.get(team)
        if found is not None and time.monotonic() - found[1] < self.ttl:
            return found[0]
        try:
            client = await self.workspaces.client(team)
            users = (await client.usergroups_users_list(usergroup=self.group)).get("users") or []
        except (SlackApiError, ChatRefused) as e:
            log.warning("usergroups.users.list for %s failed: %s", self.group, e)
            return frozenset()
        members = frozenset(str(u) for u in users)
        self._group[team] = (members, time.monotonic())
        return members

    async def is_moderator(self, team: str, user: str) -> bool:
        if await self.is_admin(team, user):
            return True
        return user in await self.group_members(team)
