"""The live-run view: `GET /v1/threads/{t}/runs/{r}` answered from prebuilt JSON bytes.

Programs poll runs (the SDK's `create_and_poll`, LangChain every second, scripts every 50 ms), and
every request the event loop serves is CPU the decode threads lose. An ordinary retrieve costs a
session, an ORM select, a Run struct and its encoding; here a hit costs one prepared statement
(`store.run_probe`: status, owner, claim count, metadata) and hands back the bytes encoded when the
entry was built.

Never older than the database: every poll reads the run's version from the database itself, so
whatever process changed the run, a client sees the change on its next poll. The probe's columns
change with every change of the object, given the rule an entry is served under:
* a run this process's worker holds (`in_progress` / `cancelling` with our `worker_id`) changes only
  by a status move (ours: requires_action, a terminal status; anyone's: cancelling, recovery), by
  `metadata`, or by going back to `queued` and being claimed again, which bumps `attempts` (a
  shutdown hands runs back uncounted, but a worker that stops never claims again: a new process has
  a new worker id);
* a terminal run never changes again but for its `metadata`.
Any other run (queued, requires_action, held by another process's worker: it could go round
requires_action -> queued -> in_progress there, status and owner alike) takes the ordinary path.
A miss reads the row through the store, and builds the entry under that row's own version; a change
committed between the probe and that read shows as a different version at the next poll.

Held polls: the SDK's `*_and_poll` helpers mark their retrieves (`X-Stainless-Poll-Helper: true`)
and stop at the first status they wait for, so a helper's retrieve of a run still `queued` /
`in_progress` / `cancelling` is answered when the run's next lifecycle event arrives (from any
process, through the event log) or after `HOLD_SECONDS`, whichever is first, and always with the
state read at that moment. A client polling every 50 ms then costs about one request per second
or per status change instead of twenty, and sees a change at once instead of up to an interval
later. Only helper requests are held: a program polling by hand gets every answer at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from assistants import protocol as p
from assistants import store
from assistants.protocol import run_status
from assistants.protocol.codec import encoder
from assistants.store.events import EventFilter
from assistants.store.run_probe import RunProbe, RunState

if TYPE_CHECKING:
    from assistants.events import EventBus

log = logging.getLogger("assistants.runs.live")

CAPACITY = 4096
"""Entries kept (about 2 KiB each); the least recently built go first."""
HOLD_SECONDS = 1.0
"""Longest a helper's poll is held: LangChain's interval; well inside any client's read timeout (the
SDK sends its own as `x-stainless-read-timeout`; a hold never takes more than half of it)."""
HELD_STATUSES = frozenset({"queued", "in_progress", "cancelling"})
"""The statuses the SDK's poll helper keeps polling through."""
_LIFECYCLE = EventFilter(include_deltas=False)


@dataclass(frozen=True, slots=True)
class _Entry:
    thread_id: str
    status: str
    worker_id: str | None
    attempts: int
    metadata: dict[str, Any]
    body: bytes

    def current(self, state: RunState) -> bool:
        return (state.status == self.status and state.worker_id == self.worker_id
                and state.attempts == self.attempts and msgspec.json.decode(state.metadata) == self.metadata)


class LiveRuns:
    """One per process (`Services`); `worker_id` is the id of this process's run worker, if any."""

    def __init__(self, database: store.Database, *, worker_id: str | None = None,
                 capacity: int = CAPACITY) -> None:
        self._database = database
        self._probe = RunProbe(database)
        self.worker_id = worker_id
        self._capacity = capacity
        self._entries: dict[str, _Entry] = {}
        self._waiters: dict[str, dict[asyncio.Event, int]] = {}
        """run id -> held polls, each with the log position published when it began (older events
        reaching the watcher late do not end it)."""
        self._bus: EventBus | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.hits = 0
        self.misses = 0

    def start(self, bus: EventBus) -> None:
        """Follow the log's lifecycle events (every process's) to wake held polls."""
        self._bus = bus
        self._watcher = asyncio.create_task(self._watch(bus), name="live-runs-watch")

    async def retrieve(self, thread_id: str, run_id: str, *, hold: float = 0.0) -> bytes:
        """The run object's JSON, as `p.run_object(store.get_run(...))` would encode it now.
        A run of another thread, or none, raises the same 404 as the store.

        `hold` > 0 (a poll helper's request): while the run is in a `HELD_STATUSES` status, answer at
        its next lifecycle event or after `hold` seconds, with the state of that moment."""
        if hold <= 0 or self._bus is None:
            return (await self._current(thread_id, run_id))[0]
        # Registered before the first read: an event committed after that read still wakes us.
        waiter = asyncio.Event()
        self._waiters.setdefault(run_id, {})[waiter] = self._bus.tail.published
        try:
            body, status = await self._current(thread_id, run_id)
            if status not in HELD_STATUSES:
                return body
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), hold)
            return (await self._current(thread_id, run_id))[0]
        finally:
            waiting = self._waiters.get(run_id)
            if waiting is not None:
                waiting.pop(waiter, None)
                if not waiting:
                    del self._waiters[run_id]

    async def _current(self, thread_id: str, run_id: str) -> tuple[bytes, str]:
        state = await self._probe.state(thread_id, run_id)
        entry = self._entries.get(run_id)
        if (state is not None and entry is not None and entry.thread_id == thread_id
                and self._servable(state) and entry.current(state)):
            self.hits += 1
            return entry.body, entry.status
        self.misses += 1
        async with self._database.read() as session:
            row = await store.get_run(session, thread_id, run_id)
        body = encoder.encode(p.run_object(row))
        if self._servable(RunState(row["status"], row["worker_id"], row["attempts"], "")):
            self._put(run_id, _Entry(thread_id, row["status"], row["worker_id"], row["attempts"],
                                     row["metadata"] or {}, body))
        else:
            self._entries.pop(run_id, None)
        return body, row["status"]

    async def _watch(self, bus: EventBus) -> None:
        while True:
            try:
                async for batch in bus.follow_batches(_LIFECYCLE, bus.tail.published):
                    for event in batch:
                        waiting = self._waiters.get(event.run_id) if event.run_id is not None else None
                        for waiter, after in (waiting or {}).items():
                            if event.seq > after:
                                waiter.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # a dropped subscription (too far behind): held polls just time out
                log.exception("live-run watch stopped; following again")
                await asyncio.sleep(1.0)

    def _servable(self, state: RunState) -> bool:
        if run_status.is_terminal(state.status):
            return True
        return (self.worker_id is not None and state.worker_id == self.worker_id
                and state.status in run_status.OWNED)

    def _put(self, run_id: str, entry: _Entry) -> None:
        self._entries.pop(run_id, None)  # re-inserted last: eviction takes the oldest first
        self._entries[run_id] = entry
        if len(self._entries) > self._capacity:
            del self._entries[next(iter(self._entries))]

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        self._probe.close()


def hold_for(headers: Any) -> float:
    """How long a retrieve with these request headers may be held (0: answer at once)."""
    if headers.get("x-stainless-poll-helper") != "true":
        return 0.0
    hold = HOLD_SECONDS
    with contextlib.suppress(TypeError, ValueError):
        hold = min(hold, float(headers.get("x-stainless-read-timeout")) / 2)
    return max(hold, 0.0)
