"""Background responses as a job kind of the process's worker (`jobs.worker`, which owns the loop, the
capacity shared with runs, the heartbeat and shutdown): a `queued` row is the queue entry;
`ResponseJobs` claims and decodes them (the routes' side is `assistants.responses.background`).

* `background.enqueue` writes the row, its input items and the first two events (`response.created`
  with status `queued`, then `response.queued`) in one transaction, then wakes the claimer.
* A claimed response decodes through the same prompt, batcher and decoder as a foreground one. Its
  events are logged in `response_events` before anyone sees them: buffered, and committed every
  `flush_interval`; the terminal event commits in the same transaction as the final row, so a
  follower that saw it can read the finished response.
* `background.follow` replays the log from `after` (-1: from `response.created`, what the SDK's
  `responses.stream(response_id=...)` helper needs) and follows it until the terminal event. Followers
  are woken in-process after each commit (`Followers`), and poll the log otherwise.
* Cancel: a queued response is cancelled at once; an in-progress one gets `cancel_requested_at` and
  a `response.cancelling` announcement, which its decoder's worker sees (in-process at once, from
  another process through the log; the heartbeat reports one missed) and stops within one engine
  step; the partial output is kept.
* Leases, as for runs: a claimed response carries its `worker_id` and a `heartbeat_at` the worker
  refreshes; any worker (at start-up and every sweep) recovers responses whose owner is dead
  (`store.leases`' rule): re-queued from the start (that attempt's events and output removed) up to
  `max_attempts` times, then `failed`. A live owner's responses are never touched, and a worker
  presumed dead cannot finish a response another one took over.
* Wake-ups across processes are the runs' (`jobs.announcements`): queueing a response (and
  re-queueing it after an interrupted attempt) and requesting its cancel are announced in the run
  event log (`ResponseNotice`), which `watch` follows; so a response queued, or a cancel requested,
  through another process reaches this worker within the log tail's poll (25 ms on SQLite; NOTIFY on
  PostgreSQL), not at the worker's next poll or heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from assistants import metrics
from assistants.errors import NotFound
from assistants.inference.service import MAX_ENGINE_ATTEMPTS, EngineUnavailable
from assistants.jobs import CancelFlag, Job
from assistants.jobs.announcements import follow_announcements
from assistants.protocol.events import ResponseNotice
from assistants.protocol.responses import TERMINAL_STATUSES, response_object
from assistants.responses import service
from assistants.responses.decode import Outcome, decode
from assistants.responses.events import Event, ResponseEvents
from assistants.store import responses as response_store
from assistants.store.leases import new_worker_id, owner_is_dead

if TYPE_CHECKING:
    from assistants.events import EventBus
    from assistants.jobs import Worker
    from assistants.store import Session

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


class ResponseJobs:
    name = "response"

    def __init__(self, bus: EventBus, models: Any, *, flush_interval: float = 0.025,
                 max_attempts: int = 3, heartbeat_timeout: float = 15.0, worker_id: str | None = None,
                 retrieval: Any = None) -> None:
        self.bus = bus
        self.database = bus.database
        self.models = models
        """The registry (`inference.models.Models`): each response decodes on its row's model."""
        self.retrieval = retrieval
        """For a response's file_search (None: its tool is checked, nothing searched)."""
        self.flush_interval = flush_interval
        self.max_attempts = max_attempts
        self.heartbeat_timeout = heartbeat_timeout
        self.worker_id = worker_id or new_worker_id()
        self.followers = Followers()

    async def claim(self, session: Session, limit: int, *, busy: int) -> Sequence[Job]:
        rows = await response_store.claim_responses(session, self.worker_id, limit)
        return [Job(row["id"], functools.partial(self._execute, row)) for row in rows]

    async def heartbeat(self, session: Session, job_ids: Collection[str]) -> dict[str, bool]:
        return await response_store.heartbeat(session, self.worker_id, list(job_ids))

    async def sweep(self, session: Session, running: Collection[str]) -> bool:
        """Responses whose worker died: re-queued from the start, or failed after `max_attempts`.
        Live owners' responses (and ours, `running`) are never touched."""
        stale_before = time.time() - self.heartbeat_timeout
        requeued = False
        for row in await response_store.responses_in_progress(session):
            if row["worker_id"] == self.worker_id and row["id"] in running:
                continue
            if not owner_is_dead(row["worker_id"], row["heartbeat_at"], me=self.worker_id,
                                 stale_before=stale_before):
                continue
            if row["attempts"] < self.max_attempts:
                await response_store.rewind_response(session, row, keep_events=2, count_attempt=True)
                log.warning("crash recovery: response %s queued again", row["id"])
                requeued = True
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
        return requeued

    async def hand_back(self, session: Session, unfinished: Collection[str]) -> None:
        for response_id in unfinished:  # back to queued: the next start decodes it again
            try:
                row = await response_store.get_response(session, response_id)
            except NotFound:
                continue  # deleted while it decoded
            if row["status"] == "in_progress" and row["worker_id"] == self.worker_id:
                await response_store.rewind_response(session, row, keep_events=2, count_attempt=False)

    async def watch(self, worker: Worker) -> None:
        """Responses queued and cancels requested in any process reach this worker through the log."""
        await follow_announcements(self.bus, worker, queued=ResponseNotice.QUEUED,
                                   cancelling=ResponseNotice.CANCELLING,
                                   job_id=lambda event: event.response_id)

    async def _execute(self, row: Mapping[str, Any], cancel: CancelFlag) -> None:
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
            cancel.on_set(generation.cancel)
            last_flush = time.monotonic()
            async with generation:  # type: ignore[attr-defined]
                async for _ in decode(generation, prepared.plan, events, outcome,
                                      max_tool_calls=row["max_tool_calls"], cancelled=cancel.is_set,
                                      retry_on=(EngineUnavailable,)):
                    due = time.monotonic() - last_flush >= self.flush_interval
                    if outcome.status == "in_progress" and due:
                        await self._flush(response_id, pending)
                        last_flush = time.monotonic()
        except asyncio.CancelledError:
            raise
        except EngineUnavailable as exc:
            if await self._engine_failed(row, cancel, exc):
                return
            status, final = ("cancelled", {}) if cancel.is_set() else ("failed", {"error": {
                "code": "server_error", "message": f"The inference engine failed: {exc.message}"}})
            if events.snapshot.get("status") not in TERMINAL_STATUSES:
                events.finish(status, **final)
            outcome.status, outcome.final = status, {"status": status, **final}
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

    async def _engine_failed(self, row: Mapping[str, Any], cancel: CancelFlag,
                             exc: EngineUnavailable) -> bool:
        """A remote engine went away under the response (not its fault): after the router's next
        probe time, back to queued from the start, as the runs' executor does; True when re-queued.
        A cancel, or `MAX_ENGINE_ATTEMPTS` claims, ends it here instead (False)."""
        log.warning("background response %s: %s; re-queueing it", row["id"], exc.message)
        woken = asyncio.Event()
        cancel.on_set(woken.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), exc.retry_after)
        if cancel.is_set() or row["attempts"] >= MAX_ENGINE_ATTEMPTS:
            return False
        async with self.database.write() as session:
            current = await response_store.get_response(session, row["id"])
            if current["status"] != "in_progress" or current["worker_id"] != self.worker_id:
                return True  # no longer ours to write
            await response_store.rewind_response(session, current, keep_events=2, count_attempt=True)
        self.followers.notify(row["id"])
        return True

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
