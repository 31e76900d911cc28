"""Who is a moderator on Slack: a workspace admin or owner (users.info), or a member of the
workspace's moderator user group (usergroups.users.list). The group is chosen in Slack by an admin
with `/policybot moderators`, kept per workspace in community_moderator_group; where none was
chosen, POLICYBOT_SLACK_MODERATOR_GROUP is the default (a single-workspace install). The adapter
resolves this and passes it to the core in Actor.is_moderator; the core enforces it.

Answers are cached for a minute: usergroups.users.list is a Tier 2 method (about 20 calls a minute).
Each workspace is asked with its own token, and its answers are kept apart. A change made here
takes effect at once in this process (its cache entry is replaced); another process sharing the
database sees it within the minute."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError

from adapters.slack.installations import Workspaces
from bot.domain.outputs import Reply
from bot.ports import ChatRefused
from storage.tables import CommunityModeratorGroupRow
from storage.uow import UnitOfWork

log = logging.getLogger("policybot.slack")

# How Slack sends a user group chosen from the autocomplete in a command's text, and the bare forms
_MENTION = re.compile(r"^<!subteam\^(S[A-Z0-9]{2,31})(?:\|@?([^>]{0,100}))?>$")
_ID = re.compile(r"^S[A-Z0-9]{2,31}$")
_HANDLE = re.compile(r"^@([a-z0-9][a-z0-9._-]{0,79})$", re.IGNORECASE)
OFF = ("off", "none")


@dataclass(frozen=True, slots=True)
class GroupSetting:
    group_id: str | None
    name: str = ""
    chosen: bool = False  # chosen in this workspace (else the default of the install)


class SlackModerators:
    def __init__(
        self,
        workspaces: Workspaces,
        group: str | None = None,
        ttl: float = 60.0,
        *,
        uow: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        self.workspaces = workspaces
        self.default = group or None
        self.ttl = ttl
        self._uow = uow
        self._admins: dict[tuple[str, str], tuple[bool, float]] = {}  # (team, user) → (admin?, when)
        self._settings: dict[str, tuple[GroupSetting, float]] = {}  # team → its setting
        self._groups: dict[tuple[str, str], tuple[frozenset[str], float]] = {}  # (team, user group) → its members

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

    # ------------------------------------------------------------ the setting

    async def setting(self, team: str) -> GroupSetting:
        found = self._settings.get(team)
        if found is not None and time.monotonic() - found[1] < self.ttl:
            return found[0]
        row = None
        if self._uow is not None:
            async with self._uow() as uow:
                row = await uow.session.get(CommunityModeratorGroupRow, team)
        setting = GroupSetting(row.group_id, row.group_name, True) if row is not None else GroupSetting(self.default)
        self._settings[team] = (setting, time.monotonic())
        return setting

    async def _store(self, team: str, setting: GroupSetting, by: str) -> None:
        if self._uow is None:
            raise RuntimeError("SlackModerators needs a unit of work to keep a workspace's setting")
        async with self._uow() as uow:
            row = await uow.session.get(CommunityModeratorGroupRow, team)
            now = datetime.now(UTC)
            if row is None:
                row = CommunityModeratorGroupRow(community=team, updated_by=by, updated_at=now)
            row.group_id, row.group_name, row.updated_by, row.updated_at = setting.group_id, setting.name, by, now
            uow.session.add(row)
            await uow.commit()
        self._settings[team] = (setting, time.monotonic())

    # ------------------------------------------------------------ members

    async def group_members(self, team: str, group: str | None) -> frozenset[str]:
        if group is None:
            return frozenset()
        found = self._groups.get((team, group))
        if found is not None and time.monotonic() - found[1] < self.ttl:
            return found[0]
        try:
            client = await self.workspaces.client(team)
            users = (await client.usergroups_users_list(usergroup=group)).get("users") or []
        except (SlackApiError, ChatRefused) as e:
            log.warning("usergroups.users.list for %s failed: %s", group, e)
            return frozenset()
        members = frozenset(str(u) for u in users)
        self._groups[(team, group)] = (members, time.monotonic())
        return members

    async def is_moderator(self, team: str, user: str) -> bool:
        if await self.is_admin(team, user):
            return True
        return user in await self.group_members(team, (await self.setting(team)).group_id)

    # ------------------------------------------------------------ /policybot moderators

    async def command(self, team: str, user: str, text: str) -> Reply:
        """`/policybot moderators [group|off]`: anyone may see the setting; only admins and owners change it."""
        text = text.strip()
        if not text:
            return Reply(describe(await self.setting(team)))
        if not await self.is_admin(team, user):
            return Reply("Only workspace admins and owners can choose the moderators' user group; nothing changed.", ok=False)
        if text.lower() in OFF:
            await self._store(team, GroupSetting(None, "", True), user)
            return Reply("No user group makes moderators here now: only workspace admins and owners are policybot moderators.")
        chosen = await self._read_group(team, text)
        if isinstance(chosen, Reply):
            return chosen
        await self._store(team, chosen, user)
        self._groups.pop((team, chosen.group_id or ""), None)  # its members are read afresh
        return Reply(f"Members of the user group {shown(chosen)} are now policybot moderators here, besides admins and owners.")

    async def _read_group(self, team: str, text: str) -> GroupSetting | Reply:
        """The user group named by a mention, an id or a handle, checked with Slack; a Reply saying why not."""
        mention, handle = _MENTION.match(text), _HANDLE.match(text)
        if mention:
            group_id, name = mention.group(1), mention.group(2) or ""
        elif _ID.match(text):
            group_id, name = text, ""
        elif handle:
            found = await self._find_handle(team, handle.group(1))
            if found is None:
                return Reply(f"There is no user group @{handle.group(1)} in this workspace; nothing changed.", ok=False)
            group_id, name = found, handle.group(1)
        else:
            return Reply(
                f"'{text[:40]}' is not a user group. Give one as @handle (pick it from the list Slack offers), its id "
                "(S…), or off.\nUsage: /policybot moderators <@usergroup|S…|off>",
                ok=False,
            )
        try:
            client = await self.workspaces.client(team)
            await client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as e:
            error = e.response.get("error")
            return Reply(f"Slack does not know the user group {group_id} here (Slack: {error}); nothing changed.", ok=False)
        except ChatRefused as e:
            return Reply(f"Could not ask Slack about {group_id}: {e.refusal.describe()}; nothing changed.", ok=False)
        return GroupSetting(group_id, name.lstrip("@"), True)

    async def _find_handle(self, team: str, handle: str) -> str | None:
        try:
            client = await self.workspaces.client(team)
            groups = (await client.usergroups_list()).get("usergroups") or []
        except (SlackApiError, ChatRefused) as e:
            log.warning("usergroups.list failed: %s", e)
            return None
        return next((str(g["id"]) for g in groups if str(g.get("handle", "")).lower() == handle.lower()), None)


def shown(setting: GroupSetting) -> str:
    return f"@{setting.name} ({setting.group_id})" if setting.name else str(setting.group_id)


def describe(setting: GroupSetting) -> str:
    if setting.group_id is None:
        where = "chosen here" if setting.chosen else "no user group is set"
        return f"Moderators: workspace admins and owners only ({where}). Admins: /policybot moderators @group to add a group."
    source = "chosen here" if setting.chosen else "the default of this install, POLICYBOT_SLACK_MODERATOR_GROUP"
    return f"Moderators: workspace admins and owners, and members of the user group {shown(setting)} ({source})."
