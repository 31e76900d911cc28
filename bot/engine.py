"""The engine: checks each command at the boundary, dispatches it to its one handler
(bot/handlers), delivers the posts the handler wrote to the outbox, and answers truthfully:

- a CommandError is the member's mistake: a private ✗ with nothing changed;
- any other failure says "nothing was changed" only if nothing was committed, and otherwise that the
  command was carried out and something failed afterwards;
- a post that fails after the change committed is reported beside the change, with the fix;
- a command with a request key (the platform's own id of the request) acts once: a replay gets
  the first answer again (storage/scope.py claims the key in the command's first commit)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from bot.domain import commands as c
from bot.domain.bounds import check_command
from bot.domain.outputs import Outcome, Reply, failed_after_change, internal_error, reply_from_json, reply_to_json, with_note
from bot.errors import CommandError
from bot.handlers import HANDLERS, Handler
from bot.rounds.outbox import deliver, enqueue, report
from bot.services import Services
from storage.scope import AlreadyHandled, CommandScope, current
from storage.tables import HandledRequestRow

log = logging.getLogger("policybot.engine")

HANDLED_KEPT = timedelta(days=1)  # platforms redeliver within minutes; a day of answers is plenty
ALREADY_HANDLED = (
    "This request was already handled (the same request arrived twice); its first answer is not at hand. "
    "/round status shows where things stand."
)


class Engine:
    def __init__(self, services: Services, handlers: Mapping[type[c.Command], Handler] = HANDLERS) -> None:
        self.services = services
        self.handlers = handlers
        self._requests: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}  # one delivery of a request at a time

    async def dispatch(self, cmd: c.Command) -> Reply:
        """Handle one command. Adapters acknowledge the platform first, then call this."""
        handler = self.handlers.get(type(cmd))
        if handler is None:
            return Reply(f"Unknown command {type(cmd).__name__}.", ok=False)
        try:
            check_command(cmd)  # what the database cannot hold is refused here, for every adapter
        except CommandError as e:
            return Reply(e.message, ok=False)
        if not cmd.request_key:
            return await self._handle(handler, cmd)
        ident = (cmd.actor.community, cmd.request_key[:200])
        lock, users = self._requests.get(ident, (asyncio.Lock(), 0))
        self._requests[ident] = (lock, users + 1)
        try:
            async with lock:  # a replay arriving while the first is handled waits for its answer
                earlier = await self._earlier(cmd)
                if earlier is not None:
                    return earlier
                return await self._handle(handler, cmd)
        finally:
            lock, users = self._requests[ident]
            if users <= 1:
                del self._requests[ident]
            else:
                self._requests[ident] = (lock, users - 1)

    async def _handle(self, handler: Handler, cmd: c.Command) -> Reply:
        scope = CommandScope(cmd.actor.community, cmd.actor.member, cmd.request_key[:200], asyncio.current_task())
        token = current.set(scope)
        try:
            reply = await self._run(handler, cmd, scope)
        finally:
            current.reset(token)
        if scope.request_key:
            await self._remember(scope, reply)
        return reply

    async def _run(self, handler: Handler, cmd: c.Command, scope: CommandScope) -> Reply:
        try:
            outcome = await handler(cmd, self.services)
        except CommandError as e:
            return Reply(e.message, ok=False)
        except AlreadyHandled:  # another delivery of this request committed first
            return await self._earlier(cmd) or Reply(ALREADY_HANDLED)
        except Exception:
            log.exception("command %s failed", type(cmd).__name__)
            return failed_after_change() if scope.committed else internal_error()
        try:
            note = await self._publish(outcome, scope, cmd.actor)
        except Exception:
            log.exception("posting after command %s failed", type(cmd).__name__)
            note = "Posting its messages failed; the error is in the bot's log, and /round resume posts them."
        return with_note(outcome.reply, note)

    async def _publish(self, outcome: Outcome, scope: CommandScope, actor: c.Actor) -> str:
        """Deliver what the command wrote to the outbox (and the outcome's own posts, written now);
        a failure pauses the round and is reported beside the reply."""
        svc = self.services
        if outcome.posts:  # posts of no particular change: written to the outbox now, then delivered
            async with svc.uow() as uow:
                for post in outcome.posts:
                    await enqueue(uow.session, f"post:{uuid.uuid4().hex}", post, community=actor.community)
                await uow.commit()
        notes: list[str] = []
        if scope.enqueued:
            delivery = await deliver(svc, keys=set(scope.enqueued))
            if not delivery.ok:
                await report(svc, delivery, answered=actor)
                notes.append(delivery.note())
        for key, post in outcome.edits:
            try:
                await svc.chat.edit(key, dataclasses.replace(post, community=actor.community))
            except Exception as e:
                log.warning("edit of %s failed", key, exc_info=True)
                notes.append(f"Updating an earlier message failed ({type(e).__name__}).")
        return " ".join(notes)

    # ------------------------------------------------------------ handled requests

    async def _earlier(self, cmd: c.Command) -> Reply | None:
        async with self.services.uow() as uow:
            row = (
                await uow.session.exec(
                    select(HandledRequestRow).where(
                        HandledRequestRow.community == cmd.actor.community,
                        HandledRequestRow.request_key == cmd.request_key[:200],
                    )
                )
            ).first()
        if row is None:
            return None
        return reply_from_json(row.reply) if row.reply else Reply(ALREADY_HANDLED)

    async def _remember(self, scope: CommandScope, reply: Reply) -> None:
        """Keep the answer for a replay (without its file: exports are not kept twice)."""
        kept = dataclasses.replace(reply, attachment=None)
        if reply.attachment is not None:
            kept = dataclasses.replace(
                kept, text=f"{reply.text}\n(The file {reply.attachment.filename} came with the first answer.)"
            )
        text = reply_to_json(kept)
        try:
            async with self.services.uow() as uow:
                s = uow.session
                done = await s.exec(
                    update(HandledRequestRow)
                    .where(
                        col(HandledRequestRow.community) == scope.community,
                        col(HandledRequestRow.request_key) == scope.request_key,
                    )
                    .values(reply=text)
                )
                if done.rowcount == 0:  # nothing was committed (a question, or a refusal): keep the answer all the same
                    conn = await s.connection()
                    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                    await conn.execute(
                        insert(HandledRequestRow.__table__)  # type: ignore[attr-defined]
                        .values(
                            community=scope.community,
                            request_key=scope.request_key,
                            member=scope.member,
                            reply=text,
                            handled_at=self.services.now(),
                        )
                        .on_conflict_do_nothing(index_elements=["community", "request_key"])
                    )
                await uow.commit()
        except Exception:  # the answer still goes out; a replay then acts as a new request would
            log.warning("could not keep the answer to request %s", scope.request_key, exc_info=True)

    async def prune_handled(self) -> int:
        """Forget handled requests older than HANDLED_KEPT (their answers may hold members' text)."""
        cutoff = self.services.now() - HANDLED_KEPT
        async with self.services.uow() as uow:
            done = await uow.session.exec(delete(HandledRequestRow).where(col(HandledRequestRow.handled_at) < cutoff))
            await uow.commit()
        return int(done.rowcount or 0)

    async def drain(self) -> None:
        await self.services.drain()

    async def close(self) -> None:
        await self.services.drain()
        await self.services.recorder.close()
        await self.services.appender.close()
