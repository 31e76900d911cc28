"""Who is a moderator on Slack: a workspace admin or owner (users.info), or a member of the user
group named by POLICYBOT_SLACK_MODERATOR_GROUP (usergroups.users.list). The adapter resolves this
and passes it to the core in Actor.is_moderator; the core enforces it.

Answers are cached for a minute: usergroups.users.list is a Tier 2 method (about 20 calls a minute)."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("policybot.slack")


class SlackModerators:
    def __init__(self, client: AsyncWebClient, group: str | None = None, ttl: float = 60.0) -> None:
        self.client = client
        self.group = group or None
        self.ttl = ttl
        self._admins: dict[str, tuple[bool, float]] = {}
        self._group: tuple[frozenset[str], float] | None = None

    async def is_admin(self, user: str) -> bool:
        found = self._admins.get(user)
        if found is not None and time.monotonic() - found[1] < self.ttl:
            return found[0]
        try:
            info = (await self.client.users_info(user=user)).get("user") or {}
        except SlackApiError as e:
            log.warning("users.info for %s failed: %s", user, e.response.get("error"))
            return False
        admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        self._admins[user] = (admin, time.monotonic())
        return admin

    async def group_members(self) -> frozenset[str]:
        if self.group is None:
            return frozenset()
        if self._group is not None and time.monotonic() - self._group[1] < self.ttl:
            return self._group[0]
        try:
            users = (await self.client.usergroups_users_list(usergroup=self.group)).get("users") or []
        except SlackApiError as e:
            log.warning("usergroups.users.list for %s failed: %s", self.group, e.response.get("error"))
            return frozenset()
        members = frozenset(str(u) for u in users)
        self._group = (members, time.monotonic())
        return members

    async def is_moderator(self, user: str) -> bool:
        if await self.is_admin(user):
            return True
        return user in await self.group_members()
