"""`EventBus`: the writer, the tail and the fan-out of one process, started and closed together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from assistants.events.fanout import Fanout
from assistants.events.tail import LogTail
from assistants.events.writer import EventWriter, StagedWriteFactory, Transaction
from assistants.store import events as log
from assistants.store.events import Event, EventFilter

if TYPE_CHECKING:
    from assistants.store import Database


class EventBus:
    """Persisted, ordered, replayable run events. Owned by `Services`; `start()` / `close()`."""

    def __init__(self, database: Database, *, flush_interval: float = 0.025, poll_interval: float = 0.025,
                 subscriber_limit: int = 10_000) -> None:
        self.database = database
        self.fanout = Fanout(database, subscriber_limit=subscriber_limit)
        self.tail = LogTail(database, self.fanout, poll_interval=poll_interval)
        self.writer = EventWriter(database, self.tail.catch_up, flush_interval=flush_interval)

    # -- writing: see events.writer --------------------------------------------------------------

    def emit(self, event: str, data: Any, *, run_id: str | None = None, thread_id: str | None = None,
             assistant_id: str | None = None) -> None:
        self.writer.emit(event, data, run_id=run_id, thread_id=thread_id, assistant_id=assistant_id)

    def stage(self, key: str, write: StagedWriteFactory) -> None:
        self.writer.stage(key, write)

    def unstage(self, key: str) -> None:
        self.writer.unstage(key)

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]:
        return self.writer.transaction()

    def poke(self) -> None:
        """Events were committed outside the bus (a store repository in its own transaction)."""
        self.tail.wake()

    async def flush(self) -> None:
        """Commit and publish everything emitted so far (and whatever others committed)."""
        if not await self.writer.flush():
            await self.tail.catch_up()

    @property
    def flushes(self) -> int:
        return self.writer.flushes

    @property
    def flush_interval(self) -> float:
        return self.writer.flush_interval

    @flush_interval.setter
    def flush_interval(self, value: float) -> None:
        self.writer.flush_interval = value

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.tail.start()
        self.writer.start()

    async def close(self) -> None:
        await self.writer.close()
        await self.tail.close()
        self.fanout.close()

    # -- reading -----------------------------------------------------------------------------------

    async def replay(self, flt: EventFilter, after: int = 0) -> list[Event]:
        """Every committed event matching `flt` with seq > after."""
        out: list[Event] = []
        while True:
            async with self.database.read() as session:
                page = await log.read_after(session, flt, after)
            out.extend(page)
            if len(page) < log.PAGE_SIZE:
                return out
            after = page[-1].seq

    def follow_batches(self, flt: EventFilter, after: int = 0, *, keepalive: float | None = None,
                       stop: Callable[[Event], bool] | None = None,
                       replay_only: bool = False) -> AsyncIterator[list[Event]]:
        return self.fanout.follow_batches(flt, after, keepalive=keepalive, stop=stop, replay_only=replay_only)

    async def follow(self, flt: EventFilter, after: int = 0, *, keepalive: float | None = None,
                     stop: Callable[[Event], bool] | None = None) -> AsyncIterator[Event | None]:
        """`follow_batches` an event at a time; None when a keepalive is due."""
        async for batch in self.follow_batches(flt, after, keepalive=keepalive, stop=stop):
            if not batch:
                yield None
            for event in batch:
                yield event

    async def last_seq(self) -> int:
        async with self.database.read() as session:
            return await log.last_seq(session)
