"""Response rows, their items and (background responses) their event log; all of the Responses SQL.

A stored foreground response is written once, when it ends: the row, its input and output items and
(with `conversation`) the items appended to the conversation, in one transaction. A background
response is written `queued` at once with its first events; the worker claims it (`claim_responses`,
as runs are claimed), appends its events as it decodes, and ends it with `finish_response`.

Its own events go to `response_events`; what other processes must hear of at once (queued — also
again after an interrupted attempt — and a cancel requested) is announced in the run event log as
well (`ResponseNotice`), which every process's worker follows as it does for runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.errors import not_found
from assistants.protocol.codec import encoder
from assistants.protocol.events import ResponseNotice
from assistants.protocol.responses import response_object
from assistants.store.conversations import append_items
from assistants.store.events import insert_events, lock_log, pending
from assistants.store.ids import now
from assistants.store.models import conversation_items, response_events, response_items, responses
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import (
    Record,
    all_records,
    first_record,
    record_column,
    record_columns,
    select_records,
)

MAX_CHAIN = 1000
"""previous_response_id links followed at most (a guard against a cycle nobody can build anyway)."""

Items = Sequence[Mapping[str, Any]]


async def insert_response(session: AsyncSession, values: Mapping[str, Any], inputs: Items,
                          outputs: Items = ()) -> None:
    await session.execute(sa.insert(responses), dict(values))
    await _insert_items(session, values["id"], "input", inputs)
    await _insert_items(session, values["id"], "output", outputs)


async def _insert_items(session: AsyncSession, response_id: str, direction: str, items: Items) -> None:
    if items:
        created_at = now()
        await session.execute(sa.insert(response_items), [
            {"id": item["id"], "created_at": created_at, "response_id": response_id, "direction": direction,
             "type": item["type"], "item": dict(item)} for item in items])


async def store_finished(session: AsyncSession, values: Mapping[str, Any], inputs: Items, outputs: Items, *,
                         keep: bool, conversation_id: str | None) -> None:
    """The end of a foreground response: its row and items (`keep`, i.e. store=true) and the
    conversation's new items, in the caller's transaction."""
    if keep:
        await insert_response(session, values, inputs, outputs)
    if conversation_id is not None:
        await append_items(session, conversation_id, [*inputs, *outputs])


async def get_response(session: AsyncSession, response_id: str) -> Record:
    row = first_record(await session.execute(select_records(responses).where(responses.c.id == response_id)))
    if row is None:
        raise not_found("response", response_id)
    return row


async def delete_response(session: AsyncSession, response_id: str) -> None:
    result = await session.execute(sa.delete(responses).where(responses.c.id == response_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("response", response_id)


async def list_input_items(session: AsyncSession, response_id: str, page: PageRequest) -> Page:
    await get_response(session, response_id)  # 404 first, then cursors are checked against its list
    return await fetch_page(session, response_items, {"response_id": response_id, "direction": "input"}, page)


async def chain_items(session: AsyncSession, response_id: str) -> tuple[list[dict[str, Any]], str]:
    """The history a `previous_response_id` stands for: every input and output item of the response
    and of the responses before it, oldest first; and the chain's first response still stored (its
    KV cache key). One recursive query walks the links; 404 when `response_id` is unknown."""
    link = sa.select(responses.c.id, responses.c.previous_response_id, sa.literal(0).label("depth")) \
        .where(responses.c.id == response_id).cte("chain", recursive=True)
    earlier = responses.alias("earlier")
    link = link.union_all(
        sa.select(earlier.c.id, earlier.c.previous_response_id, link.c.depth + 1)
        .where(earlier.c.id == link.c.previous_response_id, link.c.depth < MAX_CHAIN - 1))
    # A deleted link ends the walk: the history starts after it.
    ids = [row[0] for row in await session.execute(sa.select(link.c.id).order_by(link.c.depth))]
    if not ids:
        raise not_found("response", response_id)
    rows = all_records(await session.execute(
        sa.select(*record_columns(response_items)).where(response_items.c.response_id.in_(ids))
        .order_by(response_items.c.sequence)))
    return [row["item"] for row in rows], ids[-1]


async def find_items(session: AsyncSession, item_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Items by id (for `item_reference`), from stored responses and conversations."""
    wanted = list(set(item_ids))
    if not wanted:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for table in (conversation_items, response_items):
        rows = all_records(await session.execute(
            sa.select(table.c.id, record_column(table, "item"))
            .where(table.c.id.in_(wanted))))
        for row in rows:
            found.setdefault(row["id"], row["item"])
    return found


# --- background responses ----------------------------------------------------------------------------


async def _announce(session: AsyncSession, row: Mapping[str, Any], notice: ResponseNotice) -> None:
    """In the run event log (the caller took `lock_log` before its first write)."""
    await insert_events(session, [pending(notice, response_object(row), response_id=row["id"])])


async def enqueue_response(session: AsyncSession, values: Mapping[str, Any], inputs: Items,
                           first_events: Items) -> None:
    """A background response, queued: its row, input items and first events, and its announcement."""
    await lock_log(session)  # first: see store.events
    await insert_response(session, values, inputs)
    await append_events(session, values["id"], first_events)
    await _announce(session, values, ResponseNotice.QUEUED)


async def request_cancel(session: AsyncSession, response_id: str) -> Record | None:
    """An in-progress response's cancel: `cancel_requested_at` (which its worker's heartbeat also
    reports) and its announcement; None when it is no longer in progress."""
    await lock_log(session)
    row = await set_response(session, response_id, ("in_progress",), cancel_requested_at=now())
    if row is not None:
        await _announce(session, row, ResponseNotice.CANCELLING)
    return row


async def append_events(session: AsyncSession, response_id: str, events: Items) -> None:
    if events:
        await session.execute(sa.insert(response_events), [
            {"response_id": response_id, "sequence_number": event["sequence_number"], "type": event["type"],
             "data": encoder.encode(event).decode()} for event in events])


async def events_after(session: AsyncSession, response_id: str, after: int, limit: int = 500) -> list[Record]:
    """Logged events with sequence_number > after (-1: from `response.created`), in order."""
    result = await session.execute(
        sa.select(response_events.c.sequence_number, response_events.c.type, response_events.c.data)
        .where(response_events.c.response_id == response_id, response_events.c.sequence_number > after)
        .order_by(response_events.c.sequence_number).limit(limit))
    return [dict(row._mapping) for row in result]


async def last_sequence_number(session: AsyncSession, response_id: str) -> int:
    """The newest logged event's sequence_number (-1 when none is logged)."""
    result = await session.execute(sa.select(sa.func.max(response_events.c.sequence_number))
                                   .where(response_events.c.response_id == response_id))
    value = result.scalar()
    return -1 if value is None else int(value)


async def claim_responses(session: AsyncSession, worker_id: str, limit: int) -> list[Record]:
    """Move up to `limit` oldest queued background responses to in_progress for `worker_id`
    (attempts + 1, heartbeat now). `FOR UPDATE SKIP LOCKED` on PostgreSQL: concurrent claimers in
    other processes pass over each other's rows; SQLite's write lock serializes them anyway."""
    if limit <= 0:
        return []
    oldest = (sa.select(responses.c.id).where(responses.c.status == "queued")
              .order_by(responses.c.sequence).limit(limit).with_for_update(skip_locked=True))
    ids = [row[0] for row in await session.execute(oldest)]
    if not ids:
        return []
    result = await session.execute(
        sa.update(responses).where(responses.c.id.in_(ids), responses.c.status == "queued")
        .values(status="in_progress", attempts=responses.c.attempts + 1, worker_id=worker_id,
                heartbeat_at=time.time())
        .returning(*record_columns(responses)))
    return sorted(all_records(result), key=lambda row: row["sequence"])


async def heartbeat(session: AsyncSession, worker_id: str, response_ids: Sequence[str]) -> dict[str, bool]:
    """Refresh the heartbeat of the responses `worker_id` decodes; returns those still its own, each
    with whether a cancel was requested (how a cancel written by another process arrives)."""
    if not response_ids:
        return {}
    result = await session.execute(
        sa.update(responses).where(responses.c.id.in_(list(response_ids)), responses.c.worker_id == worker_id,
                                   responses.c.status == "in_progress")
        .values(heartbeat_at=time.time()).returning(responses.c.id, responses.c.cancel_requested_at))
    return {row[0]: row[1] is not None for row in result}


async def input_items(session: AsyncSession, response_id: str) -> list[dict[str, Any]]:
    rows = all_records(await session.execute(
        sa.select(*record_columns(response_items))
        .where(response_items.c.response_id == response_id, response_items.c.direction == "input")
        .order_by(response_items.c.sequence)))
    return [row["item"] for row in rows]


async def set_response(session: AsyncSession, response_id: str, expected: Sequence[str], *,
                       owner: str | None = None, **values: Any) -> Record | None:
    """A guarded write: applies only while the response is in one of `expected` (and, with `owner`,
    still claimed by that worker); else None."""
    statement = sa.update(responses).where(responses.c.id == response_id, responses.c.status.in_(expected))
    if owner is not None:
        statement = statement.where(responses.c.worker_id == owner)
    result = await session.execute(statement.values(**values).returning(*record_columns(responses)))
    return first_record(result)


async def finish_response(session: AsyncSession, response_id: str, values: Mapping[str, Any],
                          outputs: Items, *, owner: str | None = None) -> Record | None:
    """A background response's end: final columns and output items; the conversation (if any) gets
    its input and output items. None if it was no longer in progress (deleted meanwhile, or taken
    from a worker presumed dead)."""
    row = await set_response(session, response_id, ("in_progress",), owner=owner, **values,
                             output=list(outputs), worker_id=None, heartbeat_at=None)
    if row is None:
        return None
    await _insert_items(session, response_id, "output", outputs)
    if row["conversation_id"] is not None:
        await append_items(session, row["conversation_id"],
                           [*await input_items(session, response_id), *outputs], missing_ok=True)
    return row


async def rewind_response(session: AsyncSession, row: Mapping[str, Any], *, keep_events: int,
                          count_attempt: bool) -> bool:
    """Back to queued after an interrupted attempt: the attempt's events (all but the first
    `keep_events`) go, so a replay shows only what is true now; announced as queued again."""
    await lock_log(session)
    await session.execute(sa.delete(response_events).where(
        response_events.c.response_id == row["id"], response_events.c.sequence_number >= keep_events))
    await session.execute(sa.delete(response_items).where(
        response_items.c.response_id == row["id"], response_items.c.direction == "output"))
    values: dict[str, Any] = {"status": "queued", "output": [], "worker_id": None, "heartbeat_at": None}
    if not count_attempt:
        values["attempts"] = responses.c.attempts - 1
    moved = await set_response(session, row["id"], ("in_progress",), owner=row["worker_id"], **values)
    if moved is not None:
        await _announce(session, moved, ResponseNotice.QUEUED)
    return moved is not None


async def responses_in_progress(session: AsyncSession) -> list[Record]:
    """In-progress responses with their owner and heartbeat (recovery decides which owners are dead)."""
    result = await session.execute(select_records(responses).where(responses.c.status == "in_progress")
                                   .order_by(responses.c.sequence))
    return all_records(result)


async def count_responses_by_status(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(sa.select(responses.c.status, sa.func.count())
                                   .group_by(responses.c.status))
    return {status: count for status, count in result.all()}
