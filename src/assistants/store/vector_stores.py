"""Vector store rows: stores, their files (each row `in_progress` is an ingestion job) and file batches.

A store's `status`, `file_counts` and `usage_bytes`, and a batch's `file_counts`, are counted from the
file rows whenever they are read, so they cannot drift from the files they describe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.errors import InvalidRequest, not_found
from assistants.protocol.vector_stores import stored_chunking
from assistants.store.ids import new_id, now
from assistants.store.models import files, vector_store_file_batches, vector_store_files, vector_stores
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import (
    Record,
    all_records,
    first_record,
    record_column,
    record_columns,
    select_records,
)

DAY = 86_400
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")
QUEUED_JOB = {"status": "in_progress", "attempts": 0, "worker_id": None, "heartbeat_at": None}
"""A file row waiting for an ingestion worker (added, or re-added, to a store): store.ingestion_jobs."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file to add to a store, with what it is indexed by."""

    file_id: str
    attributes: dict[str, Any] | None
    chunking_strategy: dict[str, Any]


def _expires_at(expires_after: dict[str, Any] | None, last_active_at: int) -> int | None:
    return None if not expires_after else last_active_at + int(expires_after["days"]) * DAY


async def create_vector_store(session: AsyncSession, name: str | None, description: str | None,
                              expires_after: dict[str, Any] | None, metadata: dict[str, str] | None,
                              entries: Sequence[FileEntry]) -> Record:
    created = now()
    values = {"id": new_id("vs_"), "created_at": created, "name": name, "description": description,
              "last_active_at": created, "metadata": metadata or {}, "expires_after": expires_after,
              "expires_at": _expires_at(expires_after, created)}
    await session.execute(sa.insert(vector_stores), values)
    await add_files(session, values["id"], entries, None)
    return await get_vector_store(session, values["id"])


async def get_vector_store(session: AsyncSession, store_id: str) -> Record:
    row = first_record(await session.execute(
        select_records(vector_stores).where(vector_stores.c.id == store_id)))
    if row is None:
        raise not_found("vector store", store_id)
    return (await _with_counts(session, [row]))[0]


async def list_vector_stores(session: AsyncSession, page: PageRequest) -> Page:
    found = await fetch_page(session, vector_stores, {}, page)
    return Page(rows=await _with_counts(session, found.rows), has_more=found.has_more)


async def update_vector_store(session: AsyncSession, store_id: str, changes: dict[str, Any]) -> Record:
    if changes:
        if "expires_after" in changes:
            store = await get_vector_store(session, store_id)
            changes["expires_at"] = _expires_at(changes["expires_after"], store["last_active_at"])
        result = await session.execute(
            sa.update(vector_stores).where(vector_stores.c.id == store_id).values(changes))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise not_found("vector store", store_id)
    return await get_vector_store(session, store_id)


async def delete_vector_store(session: AsyncSession, store_id: str) -> None:
    result = await session.execute(sa.delete(vector_stores).where(vector_stores.c.id == store_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("vector store", store_id)


async def touch_vector_store(session: AsyncSession, store_id: str) -> Record:
    """Mark the store used now (a search): `last_active_at`, and `expires_at` counted from it. An expired
    store stays expired."""
    store = await get_vector_store(session, store_id)
    if store["status"] == "expired":
        raise InvalidRequest(f"Vector store '{store_id}' has expired.", param="vector_store_id")
    at = now()
    await session.execute(sa.update(vector_stores).where(vector_stores.c.id == store_id).values(
        last_active_at=at, expires_at=_expires_at(store["expires_after"], at)))
    return store


async def require_files(session: AsyncSession, file_ids: Iterable[str], param: str = "file_ids") -> None:
    """404 naming the first id that is not an uploaded file."""
    wanted = list(dict.fromkeys(file_ids))
    known = set((await session.execute(sa.select(files.c.id).where(files.c.id.in_(wanted)))).scalars())
    for file_id in wanted:
        if file_id not in known:
            error = not_found("file", file_id)
            error.param = param
            raise error


async def add_files(session: AsyncSession, store_id: str, entries: Sequence[FileEntry], batch_id: str | None,
                    *, param: str = "file_ids") -> None:
    """Queue each file for ingestion into the store; a file already in it is ingested again."""
    if not entries:
        return
    await require_files(session, (entry.file_id for entry in entries), param)
    existing = set((await session.execute(sa.select(vector_store_files.c.id).where(
        vector_store_files.c.vector_store_id == store_id,
        vector_store_files.c.id.in_([entry.file_id for entry in entries])))).scalars())
    created = now()
    queued = {**QUEUED_JOB, "usage_bytes": 0, "last_error": None, "batch_id": batch_id}
    for entry in {entry.file_id: entry for entry in entries}.values():
        values = {**queued, "attributes": entry.attributes, "chunking_strategy": entry.chunking_strategy}
        if entry.file_id in existing:
            await session.execute(sa.update(vector_store_files).where(
                vector_store_files.c.vector_store_id == store_id, vector_store_files.c.id == entry.file_id)
                .values(values))
        else:
            await session.execute(sa.insert(vector_store_files), {
                **values, "id": entry.file_id, "vector_store_id": store_id, "created_at": created})


async def get_store_file(session: AsyncSession, store_id: str, file_id: str) -> Record:
    await get_vector_store(session, store_id)
    row = first_record(await session.execute(select_records(vector_store_files).where(
        vector_store_files.c.vector_store_id == store_id, vector_store_files.c.id == file_id)))
    if row is None:
        raise not_found("vector store file", file_id)
    return row


async def list_store_files(session: AsyncSession, store_id: str, page: PageRequest, status: str | None,
                           batch_id: str | None = None) -> Page:
    await get_vector_store(session, store_id)
    if status is not None and status not in FILE_STATUSES:
        raise InvalidRequest(f"Invalid 'filter': expected one of {', '.join(FILE_STATUSES)}, got '{status}'.",
                             param="filter")
    scope: dict[str, Any] = {"vector_store_id": store_id}
    if batch_id is not None:
        scope["batch_id"] = batch_id
    if status is not None:
        scope["status"] = status
    return await fetch_page(session, vector_store_files, scope, page)


async def update_store_file_attributes(session: AsyncSession, store_id: str, file_id: str,
                                       attributes: dict[str, Any] | None) -> Record:
    row = first_record(await session.execute(sa.update(vector_store_files).where(
        vector_store_files.c.vector_store_id == store_id, vector_store_files.c.id == file_id)
        .values(attributes=attributes).returning(*record_columns(vector_store_files))))
    if row is None:
        await get_vector_store(session, store_id)
        raise not_found("vector store file", file_id)
    return row


async def delete_store_file(session: AsyncSession, store_id: str, file_id: str) -> None:
    result = await session.execute(sa.delete(vector_store_files).where(
        vector_store_files.c.vector_store_id == store_id, vector_store_files.c.id == file_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        await get_vector_store(session, store_id)
        raise not_found("vector store file", file_id)


async def create_batch(session: AsyncSession, store_id: str, entries: Sequence[FileEntry]) -> Record:
    await get_vector_store(session, store_id)
    values = {"id": new_id("vsfb_"), "vector_store_id": store_id, "created_at": now(),
              "status": "in_progress"}
    await session.execute(sa.insert(vector_store_file_batches), values)
    await add_files(session, store_id, entries, values["id"])
    return await get_batch(session, store_id, values["id"])


async def get_batch(session: AsyncSession, store_id: str, batch_id: str) -> Record:
    row = first_record(await session.execute(select_records(vector_store_file_batches).where(
        vector_store_file_batches.c.id == batch_id, vector_store_file_batches.c.vector_store_id == store_id)))
    if row is None:
        await get_vector_store(session, store_id)
        raise not_found("vector store file batch", batch_id)
    counts = await _counts(session, vector_store_files.c.batch_id, [batch_id])
    file_counts = counts.get(batch_id, _empty_counts())
    status = row["status"]
    if status != "cancelled":
        all_failed = file_counts["total"] and file_counts["failed"] == file_counts["total"]
        status = "in_progress" if file_counts["in_progress"] else ("failed" if all_failed else "completed")
    return {**row, "status": status, "file_counts": file_counts}


async def cancel_batch(session: AsyncSession, store_id: str, batch_id: str) -> Record:
    """Files of the batch not yet ingested end `cancelled`; the batch too, unless it had finished."""
    batch = await get_batch(session, store_id, batch_id)
    if batch["status"] == "in_progress":
        await session.execute(sa.update(vector_store_files).where(
            vector_store_files.c.batch_id == batch_id, vector_store_files.c.status == "in_progress")
            .values(status="cancelled"))
        await session.execute(sa.update(vector_store_file_batches).where(
            vector_store_file_batches.c.id == batch_id).values(status="cancelled"))
    return await get_batch(session, store_id, batch_id)


async def searchable_files(session: AsyncSession, store_ids: Sequence[str]) -> list[Record]:
    """The completed files of the stores: (vector_store_id, id, filename, attributes)."""
    result = await session.execute(
        sa.select(vector_store_files.c.vector_store_id, vector_store_files.c.id, files.c.filename,
                  record_column(vector_store_files, "attributes"))
        .join(files, files.c.id == vector_store_files.c.id)
        .where(vector_store_files.c.vector_store_id.in_(store_ids),
               vector_store_files.c.status == "completed")
        .order_by(vector_store_files.c.sequence))
    return all_records(result)


async def store_file_keys(session: AsyncSession) -> set[tuple[str, str]]:
    rows = await session.execute(sa.select(vector_store_files.c.vector_store_id, vector_store_files.c.id))
    return {(store_id, file_id) for store_id, file_id in rows}


def _empty_counts() -> dict[str, int]:
    return {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0, "usage_bytes": 0}


async def _counts(session: AsyncSession, key: sa.Column[Any], ids: Sequence[str]) -> dict[str, dict[str,
                                                                                                    int]]:
    counts: dict[str, dict[str, int]] = {}
    if not ids:
        return counts
    rows = await session.execute(
        sa.select(key, vector_store_files.c.status, sa.func.count(), sa.func.coalesce(
            sa.func.sum(vector_store_files.c.usage_bytes), 0))
        .where(key.in_(list(ids))).group_by(key, vector_store_files.c.status))
    for owner, status, count, usage in rows:
        entry = counts.setdefault(owner, _empty_counts())
        if status in entry:
            entry[status] += count
        entry["total"] += count
        entry["usage_bytes"] += int(usage)
    return counts


async def _with_counts(session: AsyncSession, rows: Sequence[Record]) -> list[Record]:
    counts = await _counts(session, vector_store_files.c.vector_store_id, [row["id"] for row in rows])
    at = now()
    result = []
    for row in rows:
        entry = counts.get(row["id"], _empty_counts())
        usage = entry.pop("usage_bytes")
        if row["expires_at"] is not None and row["expires_at"] <= at:
            status = "expired"
        else:
            status = "in_progress" if entry["in_progress"] else "completed"
        result.append({**row, "file_counts": entry, "usage_bytes": usage, "status": status})
    return result


async def stores_ingesting(session: AsyncSession, store_ids: Sequence[str]) -> bool:
    """Whether any file of the stores is still being ingested (a run's file_search waits for that)."""
    found = await session.execute(sa.select(vector_store_files.c.sequence).where(
        vector_store_files.c.vector_store_id.in_(list(store_ids)),
        vector_store_files.c.status == "in_progress")
        .limit(1))
    return found.first() is not None


async def stored_tool_resources(session: AsyncSession, resources: Any) -> dict[str, Any]:
    """An assistant's or thread's `tool_resources` (a protocol ToolResources or None) as stored: the
    file_search store ids, each checked to exist (404 naming the parameter), or the store that the
    `vector_stores` helper asks for, created here."""
    ids = resources.vector_store_ids() if resources is not None else []
    for store_id in ids:
        found = await session.execute(sa.select(vector_stores.c.id).where(vector_stores.c.id == store_id))
        if found.first() is None:
            error = not_found("vector store", store_id)
            error.param = "tool_resources.file_search.vector_store_ids"
            raise error
    for helper in resources.new_vector_stores() if resources is not None else []:
        chunking = stored_chunking(helper.chunking_strategy)
        entries = [FileEntry(file_id, None, chunking) for file_id in helper.file_ids or []]
        await require_files(session, (entry.file_id for entry in entries),
                            "tool_resources.file_search.vector_stores")
        store = await create_vector_store(session, None, None, None, helper.metadata, entries)
        ids.append(store["id"])
    return {"file_search": {"vector_store_ids": ids}} if ids else {}


async def run_vector_store_ids(session: AsyncSession, assistant_id: str, thread_id: str) -> list[str]:
    """The stores a run's file_search searches: the assistant's, then the thread's."""
    from assistants.store.models import assistants, threads

    ids: list[str] = []
    for table, object_id in ((assistants, assistant_id), (threads, thread_id)):
        row = first_record(await session.execute(
            sa.select(record_column(table, "tool_resources")).where(table.c.id == object_id)))
        resources = (row or {}).get("tool_resources") or {}
        ids += [store_id for store_id in (resources.get("file_search") or {}).get("vector_store_ids") or []
                if store_id not in ids]
    return ids


THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}
"""A store made for a thread's attachments expires after 7 days idle (OpenAI's rule)."""


async def attach_to_thread_store(session: AsyncSession, thread_id: str, attachments: Sequence[Any]) -> None:
    """Files attached to a message for file_search join the thread's vector store, which is created
    (and named in the thread's tool_resources) on first use."""
    from assistants.store.models import threads

    if not attachments:
        return
    await require_files(session, (attachment.file_id for attachment in attachments), "attachments")
    file_ids = list(dict.fromkeys(attachment.file_id for attachment in attachments if attachment.searched()))
    if not file_ids:
        return
    row = first_record(await session.execute(
        sa.select(record_column(threads, "tool_resources")).where(threads.c.id == thread_id)))
    resources = dict((row or {}).get("tool_resources") or {})
    existing = (resources.get("file_search") or {}).get("vector_store_ids") or []
    entries = [FileEntry(file_id, None, stored_chunking(None)) for file_id in file_ids]
    if existing:
        await add_files(session, existing[0], entries, None, param="attachments")
        return
    store = await create_vector_store(session, None, None, THREAD_STORE_EXPIRY, None, entries)
    resources["file_search"] = {"vector_store_ids": [store["id"]]}
    await session.execute(sa.update(threads).where(threads.c.id == thread_id)
                          .values(tool_resources=resources))
