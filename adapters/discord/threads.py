"""Round threads kept open while their round runs.

Discord archives a thread after at most a week without a message, and nobody can react in an
archived thread, while a phase may last 60 days. So the adapter unarchives the thread of each
scenario of a running round (REVIEW, AMEND, VOTE): at once when Discord says it archived one
(THREAD_UPDATE), and by a sweep when the gateway connects and every hour, for any archived while
the bot was away. Unarchiving needs no permission beyond the invite's: the bot started the thread,
and a thread's starter may unarchive it. A thread a moderator locked is left as it is.

Exactly once per thread across processes: a server's events reach one shard only, and each process
sweeps only the servers of its own shards, so one process, the one serving that server, looks after
each thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import discord
from sqlmodel import col, select

from adapters.discord.chat import parse_key
from bot.rounds.deadlines import OPEN_PHASES
from storage.tables import RoundRow, RoundScenarioRow
from storage.uow import UnitOfWork

log = logging.getLogger("policybot.discord")

SWEEP_SECONDS = 3600.0  # a thread archives after a week idle at the least: an hourly look is plenty


class ThreadKeeper:
    def __init__(self, client: discord.Client, uow: Callable[[], UnitOfWork], *, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.client = client
        self._uow = uow
        self.sweep_seconds = sweep_seconds
        self.unarchived: list[int] = []  # threads this process unarchived (for the logs and tests)
        self.updates = 0  # THREAD_UPDATE events looked at (tests wait on it)
        self._updated = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def running_threads(self, guild_ids: Iterable[int]) -> dict[int, int]:
        """thread id → server id, for every scenario thread of a running round in these servers."""
        communities = {str(g) for g in guild_ids}
        if not communities:
            return {}
        q = (
            select(RoundRow.community, RoundScenarioRow.thread_key)
            .where(RoundScenarioRow.round_id == RoundRow.id)
            .where(col(RoundRow.community).in_(communities), col(RoundRow.phase).in_([p.value for p in OPEN_PHASES]))
            .where(col(RoundScenarioRow.thread_key).is_not(None))
        )
        async with self._uow() as uow:
            rows = (await uow.session.exec(q)).all()
        found: dict[int, int] = {}
        for community, key in rows:
            with contextlib.suppress(ValueError):
                found[parse_key(key or "")[1]] = int(community)  # a thread started from a message has its id
        return found

    async def on_thread_update(self, payload: discord.RawThreadUpdateEvent) -> None:
        """Discord archived a thread (or changed it otherwise): unarchive it if its round runs."""
        try:
            meta: dict[str, Any] = dict(payload.data.get("thread_metadata") or {})
            reopen = meta.get("archived") and not meta.get("locked")
            if reopen and payload.thread_id in await self.running_threads([payload.guild_id]):
                await self.unarchive(payload.thread_id)
        finally:
            async with self._updated:
                self.updates += 1
                self._updated.notify_all()

    async def wait_updates(self, count: int) -> None:
        """Wait until `count` THREAD_UPDATE events have been looked at in all."""
        async with self._updated:
            await self._updated.wait_for(lambda: self.updates >= count)

    async def sweep(self) -> int:
        """Unarchive every running round's thread in this process's servers that is not active now
        (the gateway lists a server's active threads when it connects, and tells of each change)."""
        guilds = {g.id: g for g in self.client.guilds}
        done = 0
        for thread_id, guild_id in (await self.running_threads(guilds)).items():
            if guilds[guild_id].get_thread(thread_id) is None and await self.unarchive(thread_id):
                done += 1
        return done

    async def unarchive(self, thread_id: int) -> bool:
        try:
            await self.client.http.edit_channel(thread_id, archived=False)
        except discord.NotFound:
            return False  # deleted: nothing to keep open
        except discord.HTTPException as e:  # locked by a moderator meanwhile, or no longer visible
            log.warning("could not keep thread %s open: %s", thread_id, e)
            return False
        self.unarchived.append(thread_id)
        log.info("unarchived thread %s: its round is still running", thread_id)
        return True

    # ------------------------------------------------------------ the hourly sweep

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="policybot-thread-sweep")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def safe_sweep(self) -> None:
        try:
            await self.sweep()
        except Exception:
            log.exception("sweeping the round threads failed; the next sweep tries again")

    async def _run(self) -> None:
        # the first sweep runs when the gateway is ready (PolicyBot.on_ready), then one an hour
        await self.client.wait_until_ready()
        while not self.client.is_closed():
            await asyncio.sleep(self.sweep_seconds)
            await self.safe_sweep()
