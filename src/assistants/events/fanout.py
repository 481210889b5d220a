"""Live subscribers, and following the log: replay first, then live, no gap, no duplicate.

`follow_batches` registers the subscription first (synchronously), then reads the log for
`seq > after` page by page, then drains the live queue, skipping anything at or below the last seq
delivered. Every event is either committed before the log read (so the read sees it) or published
after the registration (so it is queued), because the tail publishes in seq order and commit order
is seq order (`store.events`). A subscriber that falls too far behind drops its queue and goes back
to the log, with the same argument.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING

from assistants.protocol.events import PAUSE_RUN_EVENTS, TERMINAL_RUN_EVENTS
from assistants.store import events as log
from assistants.store.events import Event, EventFilter

if TYPE_CHECKING:
    from assistants.store import Database


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


class Fanout:
    def __init__(self, database: Database, *, subscriber_limit: int = 10_000) -> None:
        self._database = database
        self._limit = subscriber_limit
        self._subscribers: set[_Subscriber] = set()
        self.joined = 0
        """Subscriptions ever made: the tail checks it to know nobody joined during a read."""
        self.closed = False

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for subscriber in self._subscribers:
                subscriber.offer(event)

    def close(self) -> None:
        self.closed = True
        for subscriber in self._subscribers:
            subscriber.wakeup.set()

    async def follow_batches(self, flt: EventFilter, after: int = 0, *, keepalive: float | None = None,
                             stop: Callable[[Event], bool] | None = None,
                             replay_only: bool = False) -> AsyncIterator[list[Event]]:
        """Every matching event with seq > after, a batch at a time (a replay page, or what one
        publish brought); [] when a keepalive is due. The batch holding a `stop` event ends with it
        and is the last. Ends when the bus closes, or with `replay_only` once the log is read (what
        is followed is over, e.g. a finished run, and `after` may be past its last event)."""
        subscriber = _Subscriber(flt, self._limit)
        self._subscribers.add(subscriber)  # registered before the log read: see module docstring
        self.joined += 1
        try:
            last = after
            replaying = True
            while True:
                if replaying:
                    subscriber.lagged = False
                    while True:
                        async with self._database.read() as session:
                            page = await log.read_after(session, flt, last)
                        if page:
                            last = page[-1].seq
                            batch, stopped = _until_stop(page, stop)
                            yield batch
                            if stopped:
                                return
                        if len(page) < log.PAGE_SIZE:
                            break
                    if replay_only:
                        return
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
                if self.closed:
                    return
                subscriber.wakeup.clear()
                try:
                    async with asyncio.timeout(keepalive):  # no extra task, unlike wait_for (jobs.worker)
                        await subscriber.wakeup.wait()
                except TimeoutError:
                    yield []
        finally:
            self._subscribers.discard(subscriber)


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
