"""Ingestion jobs: the worker's side of the `vector_store_files` rows, leased the way runs are.

A row `in_progress` is a job. A worker claims it by writing its `worker_id` and `heartbeat_at`
(attempts + 1) and renews the lease while it works (`heartbeat`); every outcome it records is guarded
by that ownership, so any number of workers in any processes may share one database and each file is
ingested by one of them. A job is claimable when nobody holds it, when its holder's heartbeat is older
than `stale_after`, or at once when its holder ran on this host and its pid is gone (a restarted
server resumes its predecessor's jobs without waiting out the timeout: `store.leases`' rule). PostgreSQL
skips rows another claimer holds (SKIP LOCKED); SQLite's writer lock serialises claims.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.store.leases import dead_on_this_host
from assistants.store.models import files, vector_store_files
from assistants.store.records import Record, first_record, select_records
from assistants.store.vector_stores import QUEUED_JOB

_SCAN = 32
"""Held jobs looked at per claim for a holder that died on this host."""


async def claim(session: AsyncSession, worker_id: str, stale_after: float) -> Record | None:
    """The oldest claimable job (module docstring), now `worker_id`'s, its attempt counted; with the
    file's `filename`."""
    stale_before = time.time() - stale_after
    jobs = vector_store_files.c
    held = (await session.execute(
        sa.select(jobs.sequence, jobs.worker_id)
        .where(jobs.status == "in_progress", jobs.worker_id.is_not(None), jobs.worker_id != worker_id,
               jobs.heartbeat_at >= stale_before)
        .order_by(jobs.sequence).limit(_SCAN))).all()
    orphaned = [sequence for sequence, owner in held if dead_on_this_host(owner)]
    claimable = sa.or_(jobs.worker_id.is_(None), jobs.heartbeat_at.is_(None),
                       jobs.heartbeat_at < stale_before, jobs.sequence.in_(orphaned))
    row = first_record(await session.execute(
        select_records(vector_store_files).where(jobs.status == "in_progress", claimable)
        .order_by(jobs.sequence).limit(1).with_for_update(skip_locked=True)))
    if row is None:
        return None
    owner = jobs.worker_id.is_(None) if row["worker_id"] is None else jobs.worker_id == row["worker_id"]
    taken = await session.execute(
        sa.update(vector_store_files)
        .where(jobs.sequence == row["sequence"], jobs.status == "in_progress", owner,
               jobs.attempts == row["attempts"])
        .values(worker_id=worker_id, heartbeat_at=time.time(), attempts=row["attempts"] + 1))
    if not taken.rowcount:  # type: ignore[attr-defined]
        return None  # changed between the read and the write (another claimer on SQLite cannot: locked)
    file_row = first_record(await session.execute(select_records(files).where(files.c.id == row["id"])))
    return {**row, "worker_id": worker_id, "attempts": row["attempts"] + 1,
            "filename": file_row["filename"] if file_row else ""}


async def heartbeat(session: AsyncSession, job: Record) -> bool:
    """Renew the lease of a claimed job; False when it is no longer the claimer's (taken over, deleted,
    cancelled or re-queued): the claimer's result will not be recorded."""
    jobs = vector_store_files.c
    result = await session.execute(
        sa.update(vector_store_files)
        .where(jobs.sequence == job["sequence"], jobs.status == "in_progress",
               jobs.worker_id == job["worker_id"], jobs.attempts == job["attempts"])
        .values(heartbeat_at=time.time()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def finish(session: AsyncSession, job: Record, status: str, usage_bytes: int,
                 last_error: dict[str, str] | None) -> bool:
    """Record the outcome, if the row is still the job that was claimed, by this claimer (not deleted,
    cancelled, re-queued or taken over meanwhile). False means the caller's chunks are stale and must go."""
    jobs = vector_store_files.c
    result = await session.execute(
        sa.update(vector_store_files)
        .where(jobs.sequence == job["sequence"], jobs.status == "in_progress",
               jobs.worker_id == job["worker_id"], jobs.attempts == job["attempts"])
        .values(status=status, usage_bytes=usage_bytes, last_error=last_error, heartbeat_at=None))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def requeue_completed(session: AsyncSession) -> int:
    """Every completed file back to a waiting job (the index was rebuilt for another embedding model)."""
    result = await session.execute(sa.update(vector_store_files)
                                   .where(vector_store_files.c.status == "completed").values(QUEUED_JOB))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def taken_over(session: AsyncSession, job: Record) -> bool:
    """Whether another worker holds or finished the job this claimer lost (its chunks are then that
    worker's to keep, not this one's to remove)."""
    jobs = vector_store_files.c
    row = (await session.execute(sa.select(jobs.status, jobs.worker_id)
                                 .where(jobs.sequence == job["sequence"]))).first()
    if row is None:
        return False
    return row.status == "completed" or (row.status == "in_progress" and row.worker_id is not None
                                         and row.worker_id != job["worker_id"])
