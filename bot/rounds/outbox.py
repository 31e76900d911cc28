"""Posts are part of the state change: the outbox.

A transition (or any command) that decides to post writes the post into the `outbox` table in the
same transaction as the change itself, under a stable key (round:N:announcement,
round:N:scenario:S, round:N:candidate:C, round:N:ballot:A, …). After the commit, `deliver` posts
the pending rows in the order they were written, and marks each delivered with the platform's
message key, remembering the subject's key (a candidate's message) in the same transaction. A
candidate's thread parent is its scenario's post: its message key is looked up when the candidate
is delivered. Pending rows are delivered again on start-up and when a moderator resumes or
retries, so a kill between a commit and its posts never leaves a round half-open.

What is guaranteed: every post a committed change decided is delivered at least once. A duplicate
can appear only when the process stops after the platform accepted a post and before the row was
marked delivered (one post, the one in flight); on Discord the adapter passes the key as the
message's nonce with enforce_nonce, so Discord returns the first message instead of a second one
within its few-minute window. A post is never delivered before its change committed, and a change
that rolled back leaves no post behind.

If the platform refuses a post (a missing permission, the bot not in the channel), the round's
posts stop in order there, its clock is paused, and the opener and the moderator who acted are
told privately what failed and how to resume (`report`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.commands import Actor
from bot.domain.model import Phase, aware
from bot.domain.outputs import Post, Reply, post_from_json, post_to_json
from bot.ports import ChatRefused
from bot.services import Services
from storage import scope as command_scope
from storage.tables import AmendmentRow, CandidateRow, OutboxRow, RoundRow, RoundScenarioRow, StressCaseRow

log = logging.getLogger("policybot.outbox")

POST, EDIT, RESULTS = "post", "edit", "results"
CLAIM_FOR = timedelta(minutes=2)  # how long a process holds the rows it is posting (a post takes seconds at most)
CLAIM_AT_ONCE = 20  # rows held in one statement: well within the hold even at Slack's one message a second

# subject kind → (table, column holding the message key)
_KEY_COLUMN: dict[str, tuple[Any, str]] = {
    "candidate": (CandidateRow.__table__, "message_key"),  # type: ignore[attr-defined]
    "amendment": (AmendmentRow.__table__, "message_key"),  # type: ignore[attr-defined]
    "round": (RoundRow.__table__, "announcement_key"),  # type: ignore[attr-defined]
    "round_scenario": (RoundScenarioRow.__table__, "thread_key"),  # type: ignore[attr-defined]
    "stress_case": (StressCaseRow.__table__, "message_key"),  # type: ignore[attr-defined]
}


# ---------------------------------------------------------------- keys


def announcement_key(round_id: int) -> str:
    return f"round:{round_id}:announcement"


def scenario_key(round_id: int, scenario_id: int) -> str:
    return f"round:{round_id}:scenario:{scenario_id}"


def candidate_key(round_id: int, candidate_id: int) -> str:
    return f"round:{round_id}:candidate:{candidate_id}"


# ---------------------------------------------------------------- writing (inside the change's transaction)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One post a change decides, for `enqueue_all`: its outbox key, the post, the outbox key of the
    post whose thread it goes in."""

    key: str
    post: Post
    parent: str | None = None


_INSERTS: dict[str, Any] = {}  # dialect → the outbox INSERT, built once so SQLAlchemy caches its compiled form


def _insert_statement(dialect: str) -> Any:
    found = _INSERTS.get(dialect)
    if found is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table: Any = OutboxRow.__table__  # type: ignore[attr-defined]
        found = _INSERTS[dialect] = insert(table).on_conflict_do_nothing(index_elements=["key"])
    return found


def _row(
    key: str, post: Post, *, community: str, round_id: int | None, parent: str | None, kind: str, target: str | None
) -> dict[str, Any]:
    return {
        "key": key[:200],
        "community": community,
        "round_id": round_id,
        "kind": kind,
        "parent_key": parent,
        "target": target,
        "content": post_to_json(post),
        "message_key": None,
        "created_at": datetime.now(UTC),
        "delivered_at": None,
        "attempts": 0,
        "last_error": "",
    }


async def _insert(s: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows in one statement, skipping a key that is already there (the same decision,
    written again). One statement for all of a change's posts keeps its transaction, which holds
    SQLite's single write lock, short."""
    if not rows:
        return
    conn = await s.connection()
    await conn.execute(_insert_statement(conn.dialect.name), list(rows))
    scope = command_scope.active()
    if scope is not None:
        scope.enqueued.update(r["key"] for r in rows)


async def enqueue_all(
    s: AsyncSession, posts: Iterable[Outgoing], *, community: str, round_id: int | None = None, kind: str = POST
) -> None:
    """Write several posts to the outbox in the session's transaction, in this order."""
    await _insert(
        s,
        [_row(o.key, o.post, community=community, round_id=round_id, parent=o.parent, kind=kind, target=None) for o in posts],
    )


async def enqueue(
    s: AsyncSession,
    key: str,
    post: Post,
    *,
    community: str,
    round_id: int | None = None,
    parent: str | None = None,
    kind: str = POST,
) -> None:
    """Write `post` to the outbox in the session's transaction; `parent`: the outbox key of the post
    whose thread it goes in (its message key is looked up at delivery)."""
    await enqueue_all(s, [Outgoing(key, post, parent)], community=community, round_id=round_id, kind=kind)


async def enqueue_edit(
    s: AsyncSession,
    key: str,
    post: Post,
    *,
    community: str,
    round_id: int | None = None,
    of: str | None = None,
    message: str | None = None,
) -> None:
    """An edit of the post with outbox key `of` (or of the message `message`, posted outside the
    outbox). A post still pending simply gets the new content instead."""
    if of is not None:
        pending = (await s.exec(select(OutboxRow).where(OutboxRow.key == of, col(OutboxRow.delivered_at).is_(None)))).first()
        if pending is not None:
            pending.content = post_to_json(dataclasses.replace(post, subject=post_from_json(pending.content).subject))
            s.add(pending)
            return
    await _insert(s, [_row(key, post, community=community, round_id=round_id, parent=of, kind=EDIT, target=message)])


async def enqueue_results(s: AsyncSession, round_id: int, community: str, from_phase: Phase, to_phase: Phase) -> None:
    """The analysis results post of a transition, computed when it is delivered (it needs a model fit
    that must not run inside the transaction)."""
    stage = "review" if from_phase == Phase.REVIEW else "final"
    marker = Post("", "results", json.dumps({"from": from_phase.value, "to": to_phase.value}))
    await enqueue(s, f"round:{round_id}:analysis:{stage}", marker, community=community, round_id=round_id, kind=RESULTS)


# ---------------------------------------------------------------- delivering (after the commit)


@dataclass(frozen=True, slots=True)
class Undelivered:
    round_id: int | None
    key: str
    channel: str
    problem: str
    remedy: str = ""  # the fix a moderator can apply, when the platform said what is wrong

    def describe(self) -> str:
        where = f" in {self.channel}" if self.channel else ""
        fix = f" To fix it: {self.remedy}." if self.remedy else ""
        return f"Posting{where} failed: {self.problem}.{fix}"


@dataclass
class Delivery:
    delivered: int = 0
    failed: list[Undelivered] = field(default_factory=list)
    waiting: int = 0  # rows held back behind a failed one of the same round (posts keep their order)

    @property
    def ok(self) -> bool:
        return not self.failed

    def note(self) -> str:
        """One line for a reply: what could not be posted, and how to get it posted."""
        if not self.failed:
            return ""
        first = self.failed[0]
        missing = len(self.failed) + self.waiting
        resume = f" /round resume {first.round_id} posts them once fixed." if first.round_id else ""
        return f"{first.describe()} {missing} post(s) are not out yet.{resume}"


async def _pending(
    svc: Services, round_ids: Iterable[int] | None, keys: Iterable[str] | None, everything: bool
) -> list[OutboxRow]:
    q = select(OutboxRow).where(col(OutboxRow.delivered_at).is_(None))
    if not everything:
        conditions = []
        ids, names = set(round_ids or ()), set(keys or ())
        if ids:
            conditions.append(col(OutboxRow.round_id).in_(ids))
        if names:
            conditions.append(col(OutboxRow.key).in_(names))
        if not conditions:
            return []
        q = q.where(or_(*conditions))
    async with svc.uow() as uow:
        return list((await uow.session.exec(q.order_by(col(OutboxRow.id)))).all())


async def _message_keys(svc: Services, keys: set[str]) -> dict[str, str | None]:
    """outbox key → message key (None while still pending) for the parents and targets named."""
    if not keys:
        return {}
    async with svc.uow() as uow:
        rows = (await uow.session.exec(select(OutboxRow.key, OutboxRow.message_key).where(col(OutboxRow.key).in_(keys)))).all()
    return {k: m for k, m in rows}


async def deliver(
    svc: Services,
    *,
    round_ids: Iterable[int] | None = None,
    keys: Iterable[str] | None = None,
    everything: bool = False,
) -> Delivery:
    """Post the pending outbox rows of these rounds (or with these keys, or all), in order."""
    async with svc.delivery_lock():
        rows = await _pending(svc, round_ids, keys, everything)
        scope = command_scope.active()
        if scope is not None:
            scope.enqueued -= {r.key for r in rows}
        known = await _message_keys(svc, {r.parent_key for r in rows if r.parent_key})
        report = Delivery()
        blocked: set[int | None] = set()
        held: set[int] = set()
        for i, row in enumerate(rows):
            if row.round_id is not None and row.round_id in blocked:
                report.waiting += 1
                continue
            if row.id not in held:  # hold the next rows for this process, a few at a time
                held |= await _claim(svc, [r for r in rows[i : i + CLAIM_AT_ONCE] if r.round_id not in blocked])
            failure = await _deliver_one(svc, row, known) if row.id in held else Undelivered(row.round_id, row.key, "", "")
            if failure is None:
                report.delivered += 1
            elif failure.problem:
                report.failed.append(failure)
                blocked.add(row.round_id)
            else:  # its parent is not out yet: it waits with it
                report.waiting += 1
                blocked.add(row.round_id)
        if report.waiting or report.failed:
            await _let_go(svc, held)
        return report


async def _claim(svc: Services, rows: Sequence[OutboxRow]) -> set[int]:
    """Hold these rows for this process while it posts them, so that of several bot processes on one
    database (shards, HTTP workers) only one posts each; returns the ids now held. A row held by a
    process that stopped is taken over once its hold runs out; the same process, restarted under its
    name, takes its own back at once."""
    ids = [r.id for r in rows if r.id is not None]
    if not ids:
        return set()
    now, me = svc.now(), svc.options.instance
    async with svc.uow() as uow:
        await uow.session.exec(
            update(OutboxRow)
            .where(
                col(OutboxRow.id).in_(ids),
                col(OutboxRow.delivered_at).is_(None),
                or_(
                    col(OutboxRow.claimed_until).is_(None),
                    col(OutboxRow.claimed_until) < now,
                    col(OutboxRow.claimed_by) == me,
                ),
            )
            .values(claimed_by=me, claimed_until=now + CLAIM_FOR)
            .execution_options(synchronize_session=False)
        )
        mine = (
            await uow.session.exec(
                select(OutboxRow.id).where(
                    col(OutboxRow.id).in_(ids), col(OutboxRow.claimed_by) == me, col(OutboxRow.delivered_at).is_(None)
                )
            )
        ).all()
        await uow.commit()
    return {i for i in mine if i is not None}


async def _let_go(svc: Services, ids: set[int]) -> None:
    """Release the rows this process held but did not post (their round stopped at a refusal, or
    waits on a parent), so another process, or a resume, can take them at once."""
    if not ids:
        return
    async with svc.uow() as uow:
        await uow.session.exec(
            update(OutboxRow)
            .where(
                col(OutboxRow.id).in_(ids),
                col(OutboxRow.delivered_at).is_(None),
                col(OutboxRow.claimed_by) == svc.options.instance,
            )
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        await uow.commit()


async def _deliver_one(svc: Services, row: OutboxRow, known: dict[str, str | None]) -> Undelivered | None:
    """Deliver one row; None when done, an Undelivered (problem "" when it must wait) otherwise."""
    post = post_from_json(row.content) if row.kind != RESULTS else None
    channel = post.channel if post is not None else ""
    try:
        message = await _send(svc, row, post, known)
    except _Waiting:
        return Undelivered(row.round_id, row.key, channel, "")
    except ChatRefused as e:
        await _failed(svc, row, e.refusal.describe())
        return Undelivered(row.round_id, row.key, channel, e.refusal.problem, e.refusal.remedy)
    except Exception as e:  # the network or the platform: tried again on resume, retry and start-up
        log.warning("outbox %s: delivery failed", row.key, exc_info=True)
        await _failed(svc, row, f"{type(e).__name__}: {e}")
        return Undelivered(row.round_id, row.key, channel, f"the platform answered with an error ({type(e).__name__}: {e})"[:500])
    await _delivered(svc, row, post, message)
    if message is not None:
        known[row.key] = message
    return None


class _Waiting(Exception):
    """The row's parent (or the post it edits) is not delivered yet."""


async def _send(svc: Services, row: OutboxRow, post: Post | None, known: dict[str, str | None]) -> str | None:
    if row.kind == RESULTS:
        return await _send_results(svc, row)
    assert post is not None
    post = dataclasses.replace(post, community=row.community)
    parent = None
    if row.parent_key:
        if row.parent_key not in known:
            known.update(await _message_keys(svc, {row.parent_key}))
        parent = known.get(row.parent_key)
        if parent is None and row.parent_key in known:  # the parent row exists but is not out yet
            raise _Waiting
    if row.kind == EDIT:
        target = row.target or parent
        if target is None:
            return None  # nothing to edit (the post it meant was never made): nothing to do
        await svc.chat.edit(target, post)
        return target  # an edit's row keeps the message it changed: later edits of it find it there
    if parent is not None:
        post = dataclasses.replace(post, thread_parent=parent)
    return await svc.chat.post(post, delivery_key=row.key)


async def _send_results(svc: Services, row: OutboxRow) -> str | None:
    from bot.analysis.results import transition_posts  # numpy and scikit-learn: loaded only when needed

    assert row.round_id is not None
    phases = json.loads(post_from_json(row.content).text)
    posts = await transition_posts(svc, row.round_id, Phase(phases["from"]), Phase(phases["to"]))
    key = None
    for post in posts:
        key = await svc.chat.post(dataclasses.replace(post, community=row.community), delivery_key=row.key)
    return key


async def _failed(svc: Services, row: OutboxRow, error: str) -> None:
    async with svc.uow() as uow:
        await uow.session.exec(
            update(OutboxRow)
            .where(col(OutboxRow.id) == row.id)
            # let go of it: a resume or a restart, in any process, tries again at once
            .values(attempts=col(OutboxRow.attempts) + 1, last_error=error[:2000], claimed_by=None, claimed_until=None)
        )
        await uow.commit()


async def _delivered(svc: Services, row: OutboxRow, post: Post | None, message: str | None) -> None:
    """Mark the row delivered and remember its subject's message key, in one transaction. Its
    content is emptied: the message on the platform is the post from now on. One Database.write:
    a round's fifty posts are fifty of these while members react."""
    mark = (
        update(OutboxRow)
        .where(col(OutboxRow.id) == row.id)
        .values(delivered_at=svc.now(), message_key=message, content="{}", attempts=col(OutboxRow.attempts) + 1)
    )
    posted = [(post, message)] if post is not None and message is not None and row.kind == POST else []

    def write(conn: Connection) -> None:
        conn.execute(mark)
        remember_on(conn, posted)

    await svc.database.write(write)


async def remember_in(s: AsyncSession, posted: Sequence[tuple[Post, str]]) -> None:
    """Remember in the session's transaction which message shows which subject."""
    conn = await s.connection()
    await conn.run_sync(remember_on, posted)


def remember_on(conn: Connection, posted: Sequence[tuple[Post, str]]) -> None:
    """Remember, in the connection's transaction, which message shows which subject."""
    by_kind: dict[str, list[dict[str, object]]] = {}
    for post, key in posted:
        if post.subject is not None and post.subject.kind in _KEY_COLUMN:
            by_kind.setdefault(post.subject.kind, []).append({"subject_id": post.subject.id, "message_key": key})
    for kind, rows in by_kind.items():
        table, column = _KEY_COLUMN[kind]
        stmt = update(table).where(table.c.id == bindparam("subject_id")).values({column: bindparam("message_key")})
        conn.execute(stmt, rows)


# ---------------------------------------------------------------- when a post fails: stop the clock, say so


def opener_of(r: RoundRow) -> Actor:
    return Actor(r.platform, r.community, r.opened_by, r.opened_by, is_moderator=True)


def failure_message(r: RoundRow, failure: Undelivered, paused: bool) -> str:
    if Phase(r.phase).is_open:
        clock = " Its clock is paused, so no deadline passes meanwhile." if paused else ""
        how = f"/round resume {r.id} posts what is missing and restarts the clock"
    else:
        clock, how = "", f"/round retry {r.id} posts what is missing"
    return f"Round #{r.id}: {failure.describe()}{clock} Once it is fixed, {how}."


async def pause_for_delivery(svc: Services, round_id: int, why: str) -> RoundRow | None:
    """Stop an open round's clock (the existing pause) because its posts are not out; returns the
    round as it is now."""
    now = svc.now()
    async with svc.uow() as uow:
        s = uow.session
        r = await s.get(RoundRow, round_id)
        if r is None:
            return None
        ends = aware(r.phase_ends_at)
        if Phase(r.phase).is_open and r.paused_remaining_seconds is None and ends is not None:
            remaining = max(60, math.ceil((ends - now).total_seconds()))
            await s.exec(
                update(RoundRow)
                .where(col(RoundRow.id) == round_id, col(RoundRow.phase) == r.phase)
                .values(phase_ends_at=None, paused_remaining_seconds=remaining, note=why[:2000])
            )
            await uow.commit()
            await s.refresh(r)
            svc.schedule_changed(round_id)
        return r


async def report(svc: Services, delivery: Delivery, *, tell: Actor | None = None, answered: Actor | None = None) -> None:
    """For each round whose posts failed: pause its clock and tell privately its opener and `tell`
    (the moderator who acted), except `answered`, who is told in the reply to their command."""
    seen: set[int] = set()
    for failure in delivery.failed:
        if failure.round_id is None or failure.round_id in seen:
            continue
        seen.add(failure.round_id)
        r = await pause_for_delivery(svc, failure.round_id, failure.describe())
        if r is None:
            continue
        text = failure_message(r, failure, r.paused_remaining_seconds is not None)
        recipients: dict[str, Actor] = {}
        for who in (opener_of(r), tell):
            if who is not None and who.member not in recipients and (answered is None or who.member != answered.member):
                recipients[who.member] = who
        for who in recipients.values():
            try:
                await svc.chat.reply_privately(who, Reply(text, ok=False))
            except Exception:
                log.warning("round %s: could not tell %s that posting failed", r.id, who.member, exc_info=True)


async def deliver_round(svc: Services, round_id: int, *, tell: Actor | None = None, answered: Actor | None = None) -> Delivery:
    """Deliver a round's pending posts and, if some fail, pause it and say so (see `report`)."""
    delivery = await deliver(svc, round_ids=[round_id])
    if not delivery.ok:
        await report(svc, delivery, tell=tell, answered=answered)
    return delivery


async def deliver_everything(svc: Services) -> Delivery:
    """On start-up: whatever a stopped process committed but did not post."""
    delivery = await deliver(svc, everything=True)
    if delivery.delivered or delivery.failed:
        log.info("start-up delivery: %d post(s) delivered, %d failed", delivery.delivered, len(delivery.failed))
    if not delivery.ok:
        await report(svc, delivery)
    return delivery


async def clear_delivery_note(svc: Services, round_id: int) -> None:
    async with svc.uow() as uow:
        await uow.session.exec(
            update(RoundRow).where(col(RoundRow.id) == round_id, col(RoundRow.note).startswith("Posting")).values(note="")
        )
        await uow.commit()


async def undelivered(svc: Services, round_id: int) -> int:
    return (await delivery_state(svc, round_id))[0]


async def delivery_state(svc: Services, round_id: int) -> tuple[int, str]:
    """(posts of the round not out yet, the last error met delivering them)."""
    async with svc.uow() as uow:
        rows = (
            await uow.session.exec(
                select(OutboxRow.last_error)
                .where(OutboxRow.round_id == round_id, col(OutboxRow.delivered_at).is_(None))
                .order_by(col(OutboxRow.id))
            )
        ).all()
    return len(rows), next((e for e in rows if e), "")
