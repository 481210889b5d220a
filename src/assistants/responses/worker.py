"""The background-response worker: a `queued` row is the queue entry; `BackgroundResponses` claims and
decodes them (the routes' side is `assistants.responses.background`).

* `background.enqueue` writes the row, its input items and the first two events (`response.created`
  with status `queued`, then `response.queued`) in one transaction, then wakes the claimer.
* A claimed response decodes through the same prompt, batcher and decoder as a foreground one. Its
  events are logged in `response_events` before anyone sees them: buffered, and committed every
  `flush_interval`; the terminal event commits in the same transaction as the final row, so a
  follower that saw it can read the finished response.
* `background.follow` replays the log from `after` (-1: from `response.created`, what the SDK's
  `responses.stream(response_id=...)` helper needs) and follows it until the terminal event. Followers
  are woken in-process after each commit (`Followers`), and poll the log otherwise.
* Cancel: a queued response is cancelled at once; an in-progress one gets `cancel_requested_at`, which
  its decoder sees (in-process at once, from another process at the next sweep) and stops within one
  engine step; the partial output is kept.
* Leases, as for runs: a claimed response carries its `worker_id` and a `heartbeat_at` the worker
  refreshes; any worker (at start-up and every sweep) recovers responses whose owner is dead (stale
  heartbeat, or a gone process on this host): re-queued from the start (that attempt's events and
  output removed) up to `max_attempts` times, then `failed`. A live owner's responses are never
  touched, and a worker presumed dead cannot finish a response another one took over.

A second loop beside the run worker (runs/worker.py), with the same lease rules (`store.run_moves`'s
worker id and dead-owner check) and the same worker id in one process. [seam] Once the run worker
has a generic job hook, `BackgroundResponses` becomes one more job kind of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import msgspec

from assistants import metrics
from assistants.protocol.responses import TERMINAL_STATUSES, response_object
from assistants.responses import service
from assistants.responses.decode import Outcome, decode
from assistants.responses.events import Event, ResponseEvents
from assistants.store import responses as response_store
from assistants.store import run_moves

log = logging.getLogger("assistants.responses.worker")



class Followers:
    """In-process wake-ups per response id (a cheap fast path; the log is the truth)."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, response_id: str) -> None:
        for event in self._events.get(response_id, ()):
            event.set()

    @contextlib.contextmanager
    def watch(self, response_id: str) -> Any:
        event = asyncio.Event()
        self._events[response_id].add(event)
        try:
            yield event
        finally:
            self._events[response_id].discard(event)
            if not self._events[response_id]:
                del self._events[response_id]


def owner_is_gone(worker_id: str | None, me: str) -> bool:
    """No owner, or one on this host whose process no longer exists (no need to wait for its
    heartbeat): the run lease's rule (`store.run_moves`)."""
    return worker_id is None or (worker_id != me and run_moves._dead_on_this_host(worker_id))


class BackgroundResponses:
    def __init__(self, database: Any, models: Any, *, capacity: int, poll_interval: float = 1.0,
                 flush_interval: float = 0.025, max_attempts: int = 3, heartbeat_timeout: float = 15.0,
                 worker_id: str | None = None, retrieval: Any = None) -> None:
        self.database = database
        self.models = models
        """The registry (`inference.models.Models`): each response decodes on its row's model."""
        self.retrieval = retrieval
        """For a response's file_search (None: its tool is checked, nothing searched)."""
        self.capacity = capacity
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        self.max_attempts = max_attempts
        self.heartbeat_timeout = heartbeat_timeout
        self.worker_id = worker_id or run_moves.new_worker_id()
        self.followers = Followers()
        self._wake = asyncio.Event()
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def notify(self) -> None:
        self._wake.set()

    def request_cancel(self, response_id: str) -> None:
        running = self._running.get(response_id)
        if running is not None:
            running[1].set()

    async def start(self) -> None:
        await self.recover()
        self._tasks = [asyncio.create_task(self._loop(), name="responses-worker"),
                       asyncio.create_task(self._sweep(), name="responses-sweep")]

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for response_id, (task, _) in list(self._running.items()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):  # back to queued: the next start decodes it again
                async with self.database.write() as session:
                    row = await response_store.get_response(session, response_id)
                    if row["status"] == "in_progress" and row["worker_id"] == self.worker_id:
                        await response_store.rewind_response(session, row, keep_events=2, count_attempt=False)

    async def recover(self) -> None:
        """Responses whose worker died (stale heartbeat, or a gone process on this host): re-queued
        from the start, or failed after `max_attempts`. Live owners' responses are never touched."""
        stale_before = time.time() - self.heartbeat_timeout
        async with self.database.write() as session:
            for row in await response_store.responses_in_progress(session):
                if row["worker_id"] == self.worker_id and row["id"] in self._running:
                    continue
                stale = row["heartbeat_at"] is None or row["heartbeat_at"] < stale_before
                if not stale and not owner_is_gone(row["worker_id"], self.worker_id):
                    continue
                if row["attempts"] < self.max_attempts:
                    await response_store.rewind_response(session, row, keep_events=2, count_attempt=True)
                    log.warning("crash recovery: response %s queued again", row["id"])
                    continue
                error = {"code": "server_error", "message": f"The server stopped while this response was in "
                                                            f"progress, {row['attempts']} times."}
                events = ResponseEvents(snapshot(row), next_sequence=await next_sequence(session, row["id"]))
                pending: list[Event] = []
                events.sink = pending.append
                events.finish("failed", error=error)
                finished = await response_store.finish_response(
                    session, row["id"], {"status": "failed", "error": error}, [], owner=row["worker_id"])
                if finished is not None:
                    await response_store.append_events(session, row["id"], pending)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                free = self.capacity - len(self._running)
                if free > 0:
                    async with self.database.write() as session:
                        claimed = await response_store.claim_responses(session, self.worker_id, free)
                    for row in claimed:
                        flag = asyncio.Event()
                        task = asyncio.create_task(self._execute(row, flag), name=f"response-{row['id']}")
                        self._running[row["id"]] = (task, flag)
                        task.add_done_callback(functools.partial(self._finished, row["id"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming background responses failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    def _finished(self, response_id: str, _: object = None) -> None:
        if not self._stopping:
            self._running.pop(response_id, None)
            self._wake.set()

    async def _sweep(self) -> None:
        """Heartbeat our responses (which also delivers cancels written by another process, and stops
        a decoder whose response was taken from us), and recover those of dead workers."""
        while not self._stopping:
            await asyncio.sleep(min(self.poll_interval, self.heartbeat_timeout / 5))
            try:
                running = list(self._running)
                async with self.database.write() as session:
                    owned = await response_store.heartbeat(session, self.worker_id, running)
                for response_id in running:
                    if owned.get(response_id, True):  # cancel requested, or no longer ours
                        self.request_cancel(response_id)
                await self.recover()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background response sweep failed")

    async def _execute(self, row: Mapping[str, Any], cancel: asyncio.Event) -> None:
        response_id = row["id"]
        pending: list[Event] = []
        async with self.database.read() as session:
            first = await next_sequence(session, response_id)
        events = ResponseEvents(snapshot(row), pending.append, next_sequence=first)
        events.in_progress()
        outcome = Outcome()
        try:
            async with self.models.use(row["model"]) as inference:
                prepared = await self._prepare(row, inference)
                service.begin_output(prepared, events)
                await self._flush(response_id, pending)
                generation = await service.start_generation(inference, prepared)
            # A cancel reaches the engine at once, even while the prompt waits for a slot or is
            # being evaluated (no piece arrives then for `decode` to check the flag on).
            watcher = asyncio.ensure_future(cancel.wait())
            watcher.add_done_callback(lambda done: None if done.cancelled() else generation.cancel())
            last_flush = time.monotonic()
            try:
                async with generation:  # type: ignore[attr-defined]
                    async for _ in decode(generation, prepared.plan, events, outcome,
                                          max_tool_calls=row["max_tool_calls"], cancelled=cancel.is_set):
                        due = time.monotonic() - last_flush >= self.flush_interval
                        if outcome.status == "in_progress" and due:
                            await self._flush(response_id, pending)
                            last_flush = time.monotonic()
            finally:
                watcher.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("background response %s failed", response_id)
            error = {"code": "server_error", "message": f"The server had an error while responding: {exc}"}
            if events.snapshot.get("status") not in TERMINAL_STATUSES:
                events.finish("failed", error=error)
            outcome.status, outcome.final = "failed", {"status": "failed", "error": error}
        async with self.database.write() as session:
            taken, pending[:] = list(pending), []
            # The terminal event commits with the final row; a response deleted meanwhile has neither.
            if await response_store.finish_response(session, response_id, outcome.final, events.output,
                                                    owner=self.worker_id):
                await response_store.append_events(session, response_id, taken)
        self.followers.notify(response_id)
        metrics.observe_response_finished(outcome.status, "background")

    async def _prepare(self, row: Mapping[str, Any], inference: Any) -> service.Prepared:
        """The prompt of a stored background response, rebuilt from its row and input items (so a
        response re-queued after a crash decodes exactly what it was asked)."""
        async with self.database.read() as session:
            inputs = await response_store.input_items(session, row["id"])
        request = service.request_of(row, inputs)
        prepared = await service.prepare(inference, self.database, request, retrieval=self.retrieval)
        prepared.values = dict(row)
        prepared.inputs = inputs
        return prepared

    async def _flush(self, response_id: str, pending: list[Event]) -> None:
        if not pending:
            return
        taken, pending[:] = list(pending), []
        async with self.database.write() as session:
            await response_store.append_events(session, response_id, taken)
        self.followers.notify(response_id)


def snapshot(row: Mapping[str, Any]) -> dict[str, Any]:
    wire: dict[str, Any] = msgspec.to_builtins(response_object(row))
    return wire


async def next_sequence(session: Any, response_id: str) -> int:
    return await response_store.last_sequence_number(session, response_id) + 1
