"""Run events: one bus that persists every event to `run_events`, then publishes it to live subscribers.

Ordering and durability
-----------------------
* `seq` (`run_events.seq`, AUTOINCREMENT) is the global event id and the SSE `id:`.
* Events are written inside write transactions (SQLite: one writer at a time, so commit order == seq
  order): by `EventBus.transaction()`, or by a store repository (`store.append_event`) followed by
  `EventBus.poke()`.
* An event is published to live subscribers only AFTER it is committed, by tailing the log: after each
  commit the bus reads `seq > last published` and hands those rows out in seq order. A client never
  sees an event that a crash could un-happen, and publish order is seq order by construction.

What the log keeps, and the hot path
------------------------------------
The log keeps every event, including every `thread.message.delta`, so a replay is exact: the text a
late subscriber reassembles equals what a live one saw. To keep SQLite writes off the per-token path,
`emit()` only appends to an in-memory buffer; a flusher task commits the pending events of ALL runs in
one transaction every `flush_interval` (25 ms), then publishes them. Lifecycle changes (a run's status,
the final message, the step) use `transaction()` directly: their rows and their events commit together,
after any deltas still buffered, so the log order is the order things happened. A crash loses at most
the last `flush_interval` of deltas, which were never shown to anybody (see crash recovery in
`assistants.runs.queue`).

Replay -> live handover
-----------------------
`follow()` registers the live subscription first (synchronously), then reads the log for `seq > after`
page by page, then drains the live queue, skipping anything with `seq <= last delivered`. Every event
is either committed before the log read (so the read sees it) or committed after the registration (so
it is queued): no gap. Dedup by seq: no duplicate. A subscriber that falls too far behind drops its
queue and goes back to the log, with the same argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.store import direct

log = logging.getLogger("assistants.events")

DELTA_EVENTS = frozenset({"thread.message.delta", "thread.run.step.delta"})
TERMINAL_RUN_EVENTS = frozenset({
    "thread.run.completed", "thread.run.incomplete", "thread.run.failed",
    "thread.run.cancelled", "thread.run.expired",
})
"""A run stream ends after one of these (a run in a terminal status never emits again)."""
PAUSE_RUN_EVENTS = frozenset({"thread.run.requires_action"})
"""A `stream=true` request also ends here; submit_tool_outputs opens the next stream."""

_encode = msgspec.json.Encoder().encode
StagedWrite = Callable[[AsyncSession], Awaitable[None]]
StagedWriteFactory = Callable[[], StagedWrite]
"""Called when a transaction takes it (synchronously, together with the buffered events), so the
write reflects exactly the state those events describe; e.g. a message's text up to its last delta."""


class Database(Protocol):
    def write(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]: ...
    def read(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]: ...


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


@dataclass(frozen=True, slots=True)
class PendingEvent:
    event: str
    data: bytes
    run_id: str | None
    thread_id: str | None
    assistant_id: str | None
    created_at: float


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
            assistant_id: str | None = None) -> PendingEvent:
    payload = data if isinstance(data, bytes) else _encode(data)
    return PendingEvent(event, payload, run_id, thread_id, assistant_id, time.time())


@dataclass(slots=True)
class Transaction:
    """A write session plus the events that commit with it (in the order they were added)."""

    session: AsyncSession
    events: list[PendingEvent] = field(default_factory=list)

    def emit(self, event: str, data: Any, *, run_id: str | None = None, thread_id: str | None = None,
             assistant_id: str | None = None) -> None:
        self.events.append(pending(event, data, run_id=run_id, thread_id=thread_id,
                                   assistant_id=assistant_id))


class _Subscriber:
    __slots__ = ("filter", "lagged", "limit", "queue", "wakeup")

    def __init__(self, flt: EventFilter, limit: int) -> None:
        self.filter = flt
        self.queue: deque[Event] = deque()
        self.lagged = False
        self.wakeup = asyncio.Event()
        self.limit = limit

    def offer(self, event: Event) -> None:
        if not self.filter.matches(event):
            return
        if len(self.queue) >= self.limit:
            # Too slow: forget the queue, the log has everything (it is committed before publish).
            self.queue.clear()
            self.lagged = True
        self.queue.append(event)
        self.wakeup.set()


_table = sa.table(
    "run_events", sa.column("seq", sa.Integer), sa.column("run_id", sa.String),
    sa.column("thread_id", sa.String),
    sa.column("assistant_id", sa.String), sa.column("event", sa.String), sa.column("data", sa.Text),
    sa.column("created_at", sa.Float),
)
"""A lightweight view of the store's `run_events` table (created_at is written with sub-second precision)."""


_ALL = EventFilter()
_INSERT = sa.insert(_table).values({name: sa.bindparam(name) for name in (
    "run_id", "thread_id", "assistant_id", "event", "data", "created_at")})


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


@functools.cache
def _select_after(filtered_by: tuple[str, ...], include_deltas: bool) -> sa.TextClause:
    """The log read for one filter shape, built once (the direct path caches its compiled form)."""
    clauses = ["seq > :after", *(f"{name} = :{name}" for name in filtered_by)]
    if not include_deltas:
        clauses.append("event NOT IN ('thread.message.delta', 'thread.run.step.delta')")
    return text("SELECT seq, event, data, run_id, thread_id, assistant_id, created_at FROM run_events "
                f"WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT :limit")


class EventLog:
    """The SQL of `run_events` (the store owns the table; this is the only code that writes it)."""

    page_size = 500

    async def insert(self, session: AsyncSession, rows: list[PendingEvent]) -> None:
        # One prebuilt INSERT run for every row inside the caller's transaction (sqlite3's executemany
        # on the SQLite path): a batch of any size costs one commit and no per-row statement building.
        await direct.execute_many(session, _INSERT, [
            {"run_id": row.run_id, "thread_id": row.thread_id, "assistant_id": row.assistant_id,
             "event": row.event, "data": row.data.decode(), "created_at": row.created_at}
            for row in rows])

    async def read_after(self, session: AsyncSession, flt: EventFilter, after: int,
                         limit: int | None = None) -> list[Event]:
        params: dict[str, Any] = {"after": after, "limit": limit or self.page_size}
        for name in ("run_id", "thread_id", "assistant_id"):
            value = getattr(flt, name)
            if value is not None:
                params[name] = value
        statement = _select_after(tuple(name for name in params if name.endswith("_id")),
                                  flt.include_deltas)
        rows = (await direct.execute(session, statement, params)).records
        return [Event(r["seq"], r["event"], _bytes(r["data"]), r["run_id"], r["thread_id"], r["assistant_id"],
                      float(r["created_at"])) for r in rows]

    async def last_seq(self, session: AsyncSession) -> int:
        result = await session.execute(text("SELECT COALESCE(MAX(seq), 0) FROM run_events"))
        return int(result.scalar_one())


class EventBus:
    """Persisted, ordered, replayable run events. Owned by `Services`; `start()` / `close()`."""

    def __init__(self, database: Database, *, flush_interval: float = 0.025,
                 subscriber_limit: int = 10_000, log: EventLog | None = None) -> None:
        self._database = database
        self.flush_interval = flush_interval
        self._subscriber_limit = subscriber_limit
        self.log = log or EventLog()
        self._lock = asyncio.Lock()
        self._pending: list[PendingEvent] = []
        self._staged: dict[str, StagedWriteFactory] = {}
        self._dirty = asyncio.Event()
        self._subscribers: set[_Subscriber] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self._published = 0
        """Highest seq handed to subscribers; everything at or below it has been published."""
        self._poked = False
        self.flushes = 0
        """Number of flusher commits (tests and benchmarks read it)."""

    @property
    def database(self) -> Database:
        return self._database

    # -- writing -------------------------------------------------------------------------------

    def emit(self, event: str, data: Any, *, run_id: str | None = None, thread_id: str | None = None,
             assistant_id: str | None = None) -> None:
        """Buffer an event (no I/O). It is committed and published by the next flush."""
        self._pending.append(pending(event, data, run_id=run_id, thread_id=thread_id,
                                     assistant_id=assistant_id))
        self._dirty.set()

    def stage(self, key: str, write: StagedWriteFactory) -> None:
        """Run `write()(session)` in the next transaction, before its events (the latest per key wins).

        How a streaming message grows in the database at flush granularity: its partial text commits
        in the same transaction as the deltas that built it, without a write per token.
        """
        self._staged[key] = write
        self._dirty.set()

    def unstage(self, key: str) -> None:
        self._staged.pop(key, None)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction whose events commit with it, after every event emitted before it."""
        async with self._lock:
            # What was emitted or staged before this transaction happened before it: written first,
            # so anything the body writes to the log (here or via store.append_event) comes after.
            staged, self._staged = self._staged, {}
            taken, self._pending = self._pending, []
            writes = [factory() for factory in staged.values()]  # same instant as `taken`
            try:
                async with self._database.write() as session:
                    for write in writes:
                        await write(session)
                    await self.log.insert(session, taken)
                    tx = Transaction(session)
                    yield tx
                    await self.log.insert(session, tx.events)
            except BaseException:
                self._pending[:0] = taken
                self._staged = staged | self._staged
                raise
            # Committed (a failed commit raised above and published nothing).
            await self._publish_committed()

    def poke(self) -> None:
        """Someone else committed events (a store repository writing `run_events` in its own
        transaction): publish them at the next flush."""
        self._poked = True
        self._dirty.set()

    async def _publish_committed(self) -> None:
        """Publish the log's tail: every event committed since the last publish, in seq order.

        Tailing the log, rather than publishing what this transaction wrote, also covers events other
        writers committed, and keeps publish order == seq order by construction.
        """
        self._poked = False
        while True:
            async with self._database.read() as session:
                page = await self.log.read_after(session, _ALL, self._published)
            for event in page:
                self._published = event.seq
                for subscriber in self._subscribers:
                    subscriber.offer(event)
            if len(page) < self.log.page_size:
                return

    async def flush(self) -> None:
        """Commit and publish everything emitted so far."""
        if self._pending or self._staged:
            async with self.transaction():
                pass
        elif self._poked:
            async with self._lock:
                await self._publish_committed()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._published = await self.last_seq()
        self._flusher = asyncio.create_task(self._flush_loop(), name="events-flusher")

    async def close(self) -> None:
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
        for subscriber in self._subscribers:
            subscriber.wakeup.set()

    async def _flush_loop(self) -> None:
        while True:
            await self._dirty.wait()
            # Coalesce: everything emitted during the interval (all runs) goes in one commit.
            await asyncio.sleep(self.flush_interval)
            self._dirty.clear()
            try:
                await self.flush()
                self.flushes += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event flush failed; retrying")
                self._dirty.set()
                await asyncio.sleep(0.5)

    # -- reading -------------------------------------------------------------------------------

    async def replay(self, flt: EventFilter, after: int = 0) -> list[Event]:
        """Every committed event matching `flt` with seq > after (for tests and small tools)."""
        out: list[Event] = []
        while True:
            async with self._database.read() as session:
                page = await self.log.read_after(session, flt, after)
            out.extend(page)
            if len(page) < self.log.page_size:
                return out
            after = page[-1].seq

    async def follow(self, flt: EventFilter, after: int = 0, *, keepalive: float | None = None,
                     stop: Callable[[Event], bool] | None = None) -> AsyncIterator[Event | None]:
        """Replay matching events with seq > after, then follow live ones, no gaps, no duplicates.

        Yields None every `keepalive` seconds without events (the caller writes an SSE comment and
        may check whether to go on). Ends after an event for which `stop(event)` is true, or when
        the bus closes.
        """
        async for batch in self.follow_batches(flt, after, keepalive=keepalive, stop=stop):
            if not batch:
                yield None
            for event in batch:
                yield event

    async def follow_batches(self, flt: EventFilter, after: int = 0, *, keepalive: float | None = None,
                             stop: Callable[[Event], bool] | None = None) -> AsyncIterator[list[Event]]:
        """`follow`, a batch at a time: every event available at once (a replay page, or what one
        flush published) in one list, so a subscriber can write them in one go; [] when a keepalive
        is due. The batch that holds a `stop` event ends with it, and is the last."""
        subscriber = _Subscriber(flt, self._subscriber_limit)
        self._subscribers.add(subscriber)  # registered before the log read: see module docstring
        try:
            last = after
            replaying = True
            while True:
                if replaying:
                    subscriber.lagged = False
                    while True:
                        async with self._database.read() as session:
                            page = await self.log.read_after(session, flt, last)
                        if page:
                            last = page[-1].seq
                            batch, stopped = _until_stop(page, stop)
                            yield batch
                            if stopped:
                                return
                        if len(page) < self.log.page_size:
                            break
                    replaying = False
                batch = []
                while subscriber.queue and not subscriber.lagged:
                    event = subscriber.queue.popleft()
                    if event.seq > last:
                        last = event.seq
                        batch.append(event)
                        if stop is not None and stop(event):
                            yield batch
                            return
                if batch:
                    yield batch
                if subscriber.lagged:
                    replaying = True
                    continue
                if subscriber.queue:
                    continue  # more arrived while the batch was being written
                if self._closed:
                    return
                subscriber.wakeup.clear()
                try:
                    await asyncio.wait_for(subscriber.wakeup.wait(), keepalive)
                except TimeoutError:
                    yield []
        finally:
            self._subscribers.discard(subscriber)

    async def last_seq(self) -> int:
        async with self._database.read() as session:
            return await self.log.last_seq(session)


def _until_stop(events: list[Event], stop: Callable[[Event], bool] | None) -> tuple[list[Event], bool]:
    """The events up to and including the first stop event, and whether there was one."""
    if stop is not None:
        for i, event in enumerate(events):
            if stop(event):
                return events[:i + 1], True
    return events, False


def run_stream_stop(*, pause_on_requires_action: bool) -> Callable[[Event], bool]:
    names = TERMINAL_RUN_EVENTS | PAUSE_RUN_EVENTS if pause_on_requires_action else TERMINAL_RUN_EVENTS
    return lambda event: event.event in names
