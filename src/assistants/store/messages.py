"""Message rows: created by users (through the API) and by runs (through the worker)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants.errors import InvalidRequest, not_found
from assistants.store import direct
from assistants.store.ids import new_id, now
from assistants.store.models import messages, runs, threads
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import (
    Record,
    all_records,
    first_record,
    record_columns,
    select_records,
    update_metadata,
)
from assistants.store.vector_stores import attach_to_thread_store


def _active_run_of(thread_id: Any) -> sa.ScalarSelect[Any]:
    return (sa.select(runs.c.id)
            .where(runs.c.thread_id == thread_id, runs.c.status.in_(p.ACTIVE_STATUSES))
            .limit(1).scalar_subquery())


async def require_thread_without_active_run(session: AsyncSession, thread_id: str) -> None:
    """404 for an unknown thread; 400 while a run of it is active (one query for both)."""
    row = (await session.execute(
        sa.select(threads.c.id, _active_run_of(threads.c.id)).where(threads.c.id == thread_id))).first()
    if row is None:
        raise not_found("thread", thread_id)
    if row[1] is not None:
        raise InvalidRequest(f"Can't add messages to {thread_id} while a run {row[1]} is active.",
                             param="thread_id")


def _user_message_values(thread_id: str, request: p.CreateMessageRequest, created_at: int) -> dict[str, Any]:
    return {
        "id": new_id("msg_"),
        "created_at": created_at,
        "thread_id": thread_id,
        "role": request.role,
        "content": p.to_json_value(request.output_content()),
        "status": "completed",
        "incomplete_details": None,
        "completed_at": created_at,
        "incomplete_at": None,
        "assistant_id": None,
        "run_id": None,
        "attachments": p.to_json_value(request.attachments or []),
        "metadata": request.metadata or {},
    }


async def insert_messages(session: AsyncSession, thread_id: str,
                          requests: Sequence[p.CreateMessageRequest]) -> list[Record]:
    """Add messages as given, in order, without checks (thread creation, a run's additional messages)."""
    if not requests:
        return []
    created_at = now()
    rows: list[Record] = [_user_message_values(thread_id, request, created_at) for request in requests]
    # One row per statement keeps `sequence` in list order on every backend (executemany would too,
    # but its RETURNING/ordering guarantees differ between drivers).
    for row in rows:
        await session.execute(sa.insert(messages), row)
    await attach_to_thread_store(session, thread_id, [a for r in requests for a in r.attachments or ()])
    return rows


def _insert_if_thread_open() -> sa.Insert:
    """INSERT INTO messages SELECT <values> WHERE the thread exists AND has no active run.

    The hot path of the API: the checks and the write are one statement; the reason for a refusal is
    looked up only when one happens."""
    names = [column.name for column in messages.c if column.name != "sequence"]
    values = sa.select(*(sa.bindparam(name, type_=messages.c[name].type) for name in names))
    thread_id: sa.BindParameter[str] = sa.bindparam("thread_id")
    # Statuses as literal SQL: an expanding IN list could not be compiled once (see store.direct).
    active = sa.tuple_(*(sa.literal_column(f"'{status}'") for status in p.ACTIVE_STATUSES))
    open_thread = values.where(sa.exists().where(threads.c.id == thread_id),
                               ~sa.exists().where(runs.c.thread_id == thread_id, runs.c.status.in_(active)))
    return sa.insert(messages).from_select(names, open_thread)


_INSERT_IF_THREAD_OPEN = _insert_if_thread_open()


async def create_message(session: AsyncSession, thread_id: str, request: p.CreateMessageRequest) -> Record:
    values = _user_message_values(thread_id, request, now())
    if (await direct.execute(session, _INSERT_IF_THREAD_OPEN, values)).rowcount != 1:
        await require_thread_without_active_run(session, thread_id)  # raises the precise 404 / 400
        raise RuntimeError(f"message insert into {thread_id} refused for no known reason")
    await attach_to_thread_store(session, thread_id, request.attachments or ())
    return values


async def create_run_message(session: AsyncSession, *, thread_id: str, run_id: str, assistant_id: str,
                             content: list[Any] | None = None, status: str = "in_progress") -> Record:
    """The assistant message a run writes (worker). Content is in output form (`p.TextContent`...)."""
    created_at = now()
    values = {
        "id": new_id("msg_"),
        "created_at": created_at,
        "thread_id": thread_id,
        "role": "assistant",
        "content": p.to_json_value(content or []),
        "status": status,
        "incomplete_details": None,
        "completed_at": created_at if status == "completed" else None,
        "incomplete_at": None,
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": [],
        "metadata": {},
    }
    await session.execute(sa.insert(messages), values)
    return values


async def update_message_columns(session: AsyncSession, message_id: str, **columns: Any) -> Record:
    """Set columns of one message by id (worker: content, status, completed_at, incomplete_*)."""
    if "content" in columns:
        columns["content"] = p.to_json_value(columns["content"])
    row = first_record(await session.execute(sa.update(messages).where(messages.c.id == message_id)
                                 .values(columns).returning(*record_columns(messages))))
    if row is None:
        raise not_found("message", message_id)
    return row


async def get_message(session: AsyncSession, thread_id: str, message_id: str) -> Record:
    row = first_record(await session.execute(select_records(messages).where(
        messages.c.id == message_id, messages.c.thread_id == thread_id)))
    if row is None:
        raise not_found("message", message_id)
    return row


async def update_message(session: AsyncSession, thread_id: str, message_id: str,
                         request: p.UpdateMessageRequest) -> Record:
    if request.metadata is p.UNSET:
        return await get_message(session, thread_id, message_id)
    return await update_metadata(session, messages, "message", message_id, request.metadata,
                                 thread_id=thread_id)


async def delete_message(session: AsyncSession, thread_id: str, message_id: str) -> None:
    result = await session.execute(
        sa.delete(messages).where(messages.c.id == message_id, messages.c.thread_id == thread_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("message", message_id)


async def list_messages(session: AsyncSession, thread_id: str, page: PageRequest,
                        run_id: str | None = None) -> Page:
    scope = {"thread_id": thread_id} if run_id is None else {"thread_id": thread_id, "run_id": run_id}
    result = await fetch_page(session, messages, scope, page)
    if not result.rows:  # an empty page may mean an unknown thread: that is a 404
        await require_thread(session, thread_id)
    return result


async def require_thread(session: AsyncSession, thread_id: str, *, for_update: bool = False) -> None:
    """404 unless the thread exists. `for_update` also locks its row (PostgreSQL; SQLite's write lock
    already serializes writers) until the transaction ends."""
    query = sa.select(threads.c.id).where(threads.c.id == thread_id)
    if (await session.execute(query.with_for_update() if for_update else query)).first() is None:
        raise not_found("thread", thread_id)


async def list_thread_messages(session: AsyncSession, thread_id: str) -> list[Record]:
    """Every message of a thread, oldest first (the worker's prompt)."""
    result = await session.execute(
        select_records(messages).where(messages.c.thread_id == thread_id)
        .order_by(messages.c.created_at, messages.c.sequence))
    return all_records(result)
