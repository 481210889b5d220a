"""The append-only run event log. `seq` is the global, increasing SSE event id (replay by Last-Event-ID)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants.store.models import run_events
from assistants.store.records import Record, all_records, select_records


async def append_event(session: AsyncSession, run: Record, event: str, data: Any) -> int:
    """Log `event` for `run` (a run record: id, thread_id, assistant_id); returns its seq.

    `data` is a wire object (encoded here) or already-encoded JSON text. Commit order is seq order,
    because every writer holds the write lock for its whole transaction. `created_at` keeps sub-second
    precision (SQLite stores the REAL as is): the pickup-latency measurement reads it.
    """
    text = data if isinstance(data, str) else p.encoder.encode(data).decode()
    result = await session.execute(sa.insert(run_events).returning(run_events.c.seq), {
        "run_id": run["id"], "thread_id": run["thread_id"], "assistant_id": run["assistant_id"],
        "event": event, "data": text, "created_at": time.time()})
    return int(result.scalar_one())


async def events_after(session: AsyncSession, *, run_id: str | None = None, thread_id: str | None = None,
                       after_seq: int = 0, limit: int = 1000) -> list[Record]:
    """Events with seq > after_seq for one run (or one thread), in seq order."""
    statement = select_records(run_events).where(run_events.c.seq > after_seq)
    if run_id is not None:
        statement = statement.where(run_events.c.run_id == run_id)
    if thread_id is not None:
        statement = statement.where(run_events.c.thread_id == thread_id)
    result = await session.execute(statement.order_by(run_events.c.seq).limit(limit))
    return all_records(result)
