"""Thread rows. Deleting a thread removes its messages, runs, steps and events (foreign-key cascade).

The list is our extension (OpenAI has no public thread list); the playground page reads it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants.errors import not_found
from assistants.store.ids import new_id, now
from assistants.store.messages import insert_messages
from assistants.store.models import threads
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import Record, first_record, select_records, update_metadata
from assistants.store.vector_stores import stored_tool_resources


async def create_thread(session: AsyncSession, request: p.CreateThreadRequest | None) -> Record:
    """The thread and its initial messages, in the caller's transaction."""
    request = request or p.CreateThreadRequest()
    thread_id = new_id("thread_")
    values = {"id": thread_id, "created_at": now(), "metadata": request.metadata or {},
              "tool_resources": await stored_tool_resources(session, request.tool_resources)}
    await session.execute(sa.insert(threads), values)
    await insert_messages(session, thread_id, request.messages or ())
    return values


async def get_thread(session: AsyncSession, thread_id: str) -> Record:
    row = first_record(await session.execute(
        select_records(threads).where(threads.c.id == thread_id)))
    if row is None:
        raise not_found("thread", thread_id)
    return row


async def update_thread(session: AsyncSession, thread_id: str, request: p.UpdateThreadRequest) -> Record:
    if request.tool_resources is not p.UNSET:
        resources = await stored_tool_resources(session, request.tool_resources)
        result = await session.execute(sa.update(threads).where(threads.c.id == thread_id)
                                       .values(tool_resources=resources))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise not_found("thread", thread_id)
    if request.metadata is p.UNSET:
        return await get_thread(session, thread_id)
    return await update_metadata(session, threads, "thread", thread_id, request.metadata)


async def delete_thread(session: AsyncSession, thread_id: str) -> None:
    """Also deletes an active run with the thread: a worker running it finds its run gone and stops."""
    result = await session.execute(sa.delete(threads).where(threads.c.id == thread_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("thread", thread_id)


async def list_threads(session: AsyncSession, page: PageRequest) -> Page:
    return await fetch_page(session, threads, {}, page)
