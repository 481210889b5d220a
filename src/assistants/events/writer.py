"""Writing events: a write-behind buffer for deltas, and transactions whose events commit with them.

The log keeps every event, including every `thread.message.delta`, so a replay is exact. To keep
database writes off the per-token path, `emit()` only appends to a buffer; a flusher commits the
pending events of ALL runs in one transaction every `flush_interval` (25 ms). Lifecycle changes use
`transaction()`: what was buffered before it is written first, so the log order is the order things
happened. A crash loses at most the last `flush_interval` of deltas, which nobody was shown (events
are published only once committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from assistants.store import events as log
from assistants.store.events import PendingEvent, pending

if TYPE_CHECKING:
    from assistants.store import Database

_log = logging.getLogger("assistants.events")

StagedWrite = Callable[[AsyncSession], Awaitable[None]]
StagedWriteFactory = Callable[[], StagedWrite]
"""Called when a transaction takes it (synchronously, together with the buffered events), so the
write reflects exactly the state those events describe; e.g. a message's text up to its last delta."""


@dataclass(slots=True)
class Transaction:
    """A write session plus the events that commit with it (in the order they were added)."""

    session: AsyncSession
    events: list[PendingEvent] = field(default_factory=list)

    def emit(self, event: str, data: Any, *, run_id: str | None = None, thread_id: str | None = None,
             assistant_id: str | None = None) -> None:
        self.events.append(pending(event, data, run_id=run_id, thread_id=thread_id,
                                   assistant_id=assistant_id))


class EventWriter:
    def __init__(self, database: Database, on_commit: Callable[[], Awaitable[None]], *,
                 flush_interval: float = 0.025) -> None:
        self._database = database
        self._on_commit = on_commit
        self.flush_interval = flush_interval
        self._lock = asyncio.Lock()
        self._pending: list[PendingEvent] = []
        self._staged: dict[str, StagedWriteFactory] = {}
        self._dirty = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.flushes = 0
        """Number of flusher commits (tests and benchmarks read it)."""

    def emit(self, event: str, data: Any, *, run_id: str | None = None, thread_id: str | None = None,
             assistant_id: str | None = None) -> None:
        """Buffer an event (no I/O). It is committed and published by the next flush."""
        self._pending.append(pending(event, data, run_id=run_id, thread_id=thread_id,
                                     assistant_id=assistant_id))
        self._dirty.set()

    def stage(self, key: str, write: StagedWriteFactory) -> None:
        """Run `write()(session)` in the next transaction, before its events (the latest per key wins):
        a streaming message's partial text commits with the deltas that built it."""
        self._staged[key] = write
        self._dirty.set()

    def unstage(self, key: str) -> None:
        self._staged.pop(key, None)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction whose events commit with it, after every event emitted before it."""
        async with self._lock:
            staged, self._staged = self._staged, {}
            taken, self._pending = self._pending, []
            writes = [factory() for factory in staged.values()]  # same instant as `taken`
            try:
                async with self._database.write() as session:
                    await log.lock_log(session)  # first: see store.events
                    for write in writes:
                        await write(session)
                    await log.insert_events(session, taken)
                    tx = Transaction(session)
                    yield tx
                    await log.insert_events(session, tx.events)
            except BaseException:
                self._pending[:0] = taken
                self._staged = staged | self._staged
                raise
        await self._on_commit()  # committed (a failed commit raised above and published nothing)

    async def flush(self) -> bool:
        """Commit everything emitted so far; False when there was nothing to commit."""
        if not (self._pending or self._staged):
            # A transaction may have taken them and still be committing (on PostgreSQL the commit
            # is a round trip away): "so far" includes those, so wait for it.
            async with self._lock:
                pass
            return False
        async with self.transaction():
            pass
        return True

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="events-flusher")

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    async def _flush_loop(self) -> None:
        while True:
            await self._dirty.wait()
            # Coalesce: everything emitted during the interval (all runs) goes in one commit.
            await asyncio.sleep(self.flush_interval)
            self._dirty.clear()
            try:
                if await self.flush():
                    self.flushes += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("event flush failed; retrying")
                self._dirty.set()
                await asyncio.sleep(0.5)
