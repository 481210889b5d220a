"""The run event log, `run_events`: every statement on it lives here (one writer, one reader). It also
carries background responses' announcements (`response_id` set, no thread): see `store.responses`.

`seq` is the global, increasing SSE event id; a follower tails the log by `seq > last seen`, which
is only gap-free if commit order equals seq order. Each backend makes that explicit:
* SQLite: one writer at a time (BEGIN IMMEDIATE holds the file's write lock across processes), so a
  later seq always commits later.
* PostgreSQL: a transaction that writes events first takes `pg_advisory_xact_lock(LOG_LOCK)` and
  holds it until it commits, so seqs are handed out and committed in one order. It is taken before
  anything else the transaction writes (`lock_log`), so it never waits on a row lock while holding it.
  Each such transaction also sends `NOTIFY run_events` (delivered at commit), which wakes the
  followers of every process (`assistants.events.tail`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.protocol.codec import encoder
from assistants.protocol.events import DELTA_EVENTS as E_DELTAS
from assistants.protocol.events import RunEventName as E
from assistants.store import direct
from assistants.store.models import run_events
from assistants.store.side_reader import SideReader

LOG_LOCK = 0x61737369  # "assi": the advisory lock id every event-writing transaction takes
NOTIFY_CHANNEL = "run_events"
DELTA_EVENTS = tuple(sorted(E_DELTAS))



@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    event: str
    data: bytes
    """Compact JSON, exactly what goes on the `data:` line."""
    run_id: str | None
    thread_id: str | None
    assistant_id: str | None
    created_at: float
    """Unix seconds with sub-millisecond resolution: when the event happened (emit time)."""
    response_id: str | None = None
    """Set on a background response's announcement (`ResponseNotice`), which has no run nor thread."""


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event not yet in the log (it gets its seq when it is inserted)."""

    event: str
    data: bytes
    run_id: str | None
    thread_id: str | None
    assistant_id: str | None
    created_at: float
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class EventFilter:
    run_id: str | None = None
    thread_id: str | None = None
    assistant_id: str | None = None
    include_deltas: bool = True

    def matches(self, event: Event) -> bool:
        return (
            (self.run_id is None or event.run_id == self.run_id)
            and (self.thread_id is None or event.thread_id == self.thread_id)
            and (self.assistant_id is None or event.assistant_id == self.assistant_id)
            and (self.include_deltas or event.event not in DELTA_EVENTS)
        )


def pending(event: str, data: Any, *, run_id: str | None = None, thread_id: str | None = None,
            assistant_id: str | None = None, response_id: str | None = None) -> PendingEvent:
    """`data` is a wire object or builtins (encoded here), or already-encoded JSON bytes."""
    payload = data if isinstance(data, bytes) else encoder.encode(data)
    return PendingEvent(str(event), payload, run_id, thread_id, assistant_id, time.time(), response_id)


def run_event(run: Mapping[str, Any], event: str, data: Any) -> PendingEvent:
    """An event of a run (a run record: id, thread_id, assistant_id)."""
    return pending(event, data, run_id=run["id"], thread_id=run["thread_id"],
                   assistant_id=run["assistant_id"])


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def lock_log(session: AsyncSession) -> None:
    """Take the log's write lock for this transaction (PostgreSQL; SQLite's writer lock already is).

    Call it before the transaction's first write when it will append events (see module docstring)."""
    if _is_postgres(session):
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOG_LOCK})


_INSERT = sa.insert(run_events).values({name: sa.bindparam(name) for name in (
    "run_id", "thread_id", "assistant_id", "response_id", "event", "data", "created_at")})
_NOTIFY = sa.text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


async def insert_events(session: AsyncSession, rows: Sequence[PendingEvent]) -> None:
    """Append events in the caller's transaction, in order (one prebuilt INSERT per row, run as
    sqlite3's executemany on the SQLite path: a batch of any size costs one commit)."""
    if not rows:
        return
    postgres = _is_postgres(session)
    if postgres:
        await lock_log(session)  # re-entrant: a no-op wait when the transaction already holds it
    await direct.execute_many(session, _INSERT, [
        {"run_id": row.run_id, "thread_id": row.thread_id, "assistant_id": row.assistant_id,
         "response_id": row.response_id, "event": row.event, "data": row.data.decode(),
         "created_at": row.created_at}
        for row in rows])
    if postgres:
        await session.execute(_NOTIFY)  # one per transaction is enough; PostgreSQL folds repeats


async def append_event(session: AsyncSession, run: Mapping[str, Any], event: str, data: Any) -> None:
    """Log one event of `run` in the caller's transaction."""
    await insert_events(session, [run_event(run, event, data)])


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


@functools.cache
def _select_after(filtered_by: tuple[str, ...], include_deltas: bool) -> sa.Select[Any]:
    """The log read for one filter shape, built once (the direct path caches its compiled form)."""
    c = run_events.c
    statement = (sa.select(c.seq, c.event, c.data, c.run_id, c.thread_id, c.assistant_id, c.created_at,
                           c.response_id)
                 .where(c.seq > sa.bindparam("after"),
                        *(c[name] == sa.bindparam(name) for name in filtered_by))
                 .order_by(c.seq).limit(sa.bindparam("limit")))
    if not include_deltas:  # literals, not an expanding IN: the direct path binds plain parameters
        statement = statement.where(*(c.event != sa.literal_column(f"'{name}'") for name in DELTA_EVENTS))
    return statement


PAGE_SIZE = 500


async def read_after(session: AsyncSession, flt: EventFilter, after: int,
                     limit: int = PAGE_SIZE) -> list[Event]:
    """Up to `limit` committed events matching `flt` with seq > after, in seq order."""
    params: dict[str, Any] = {"after": after, "limit": limit}
    for name in ("run_id", "thread_id", "assistant_id"):
        value = getattr(flt, name)
        if value is not None:
            params[name] = value
    statement = _select_after(tuple(name for name in params if name.endswith("_id")), flt.include_deltas)
    rows = (await direct.execute(session, statement, params)).records
    return [Event(int(r["seq"]), r["event"], _bytes(r["data"]), r["run_id"], r["thread_id"],
                  r["assistant_id"], float(r["created_at"]), r["response_id"]) for r in rows]


_SIDE_LAST_SEQ = f"SELECT coalesce(max(seq), 0) FROM {run_events.name}"


def last_seq_side(reader: SideReader) -> int:
    """`last_seq` of the whole log through a side connection (`reader.available`: SQLite only)."""
    return int(reader.rows(_SIDE_LAST_SEQ)[0][0])


async def last_seq(session: AsyncSession, run_id: str | None = None) -> int:
    """The log's high-water mark (of one run's events, with `run_id`); 0 when empty."""
    statement = sa.select(sa.func.coalesce(sa.func.max(run_events.c.seq), 0))
    if run_id is not None:
        statement = statement.where(run_events.c.run_id == run_id)
    return int((await session.execute(statement)).scalar_one())


async def delete_abandoned_attempt(session: AsyncSession, run_id: str) -> None:
    """Drop the events of a run's interrupted attempt: everything after its last
    `thread.run.in_progress` (the only deletion the append-only log knows; see runs/recovery)."""
    last_start = sa.select(sa.func.max(run_events.c.seq)).where(
        run_events.c.run_id == run_id, run_events.c.event == E.RUN_IN_PROGRESS.value).scalar_subquery()
    await session.execute(sa.delete(run_events).where(run_events.c.run_id == run_id,
                                                      run_events.c.seq > sa.func.coalesce(last_start, 0)))
