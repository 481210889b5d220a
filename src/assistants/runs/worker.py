"""The worker: claims queued runs and executes up to `capacity` of them at once.

Any number of workers, in any processes, may share one database; a run belongs to the worker that
claimed it (`store.run_moves`). Each worker:
* claims when woken: by `notify()` (a run was queued in this process), by a `thread.run.queued`
  event from the log (queued in another process: the event tail wakes it within a poll tick), when
  one of its runs finishes, or by the poll timer;
* watches the log for `thread.run.cancelling` of its runs, and heartbeats them (every
  `heartbeat_timeout / 5`), which also reports cancels it may have missed and runs taken from it;
* sweeps (every poll interval): expires runs left waiting past `expires_at`, finishes cancels of
  runs no worker holds, and recovers the runs of dead workers (the attempt rule is in run_moves);
* on shutdown drains: no new claims; in-flight runs get `drain_timeout` seconds to finish, the rest
  are stopped and re-queued (attempt not counted). A SIGKILL skips this; the heartbeat goes stale and
  another worker (or this one, restarted) recovers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING

from assistants import logs, metrics
from assistants import protocol as p
from assistants.events import EventBus, EventFilter
from assistants.protocol.events import RunEventName as E
from assistants.protocol.runs import Run
from assistants.runs.executor import CancelFlag, Executor, Prompt
from assistants.settings import Settings
from assistants.store import run_moves

if TYPE_CHECKING:
    from assistants.inference import Generation, Inference, SamplingParams
    from assistants.inference.models import Models
    from assistants.retrieval.service import Retrieval

log = logging.getLogger("assistants.runs.worker")

_LIFECYCLE = EventFilter(include_deltas=False)


class Worker:
    def __init__(self, bus: EventBus, executor: Executor, *, capacity: int, poll_interval: float = 1.0,
                 heartbeat_timeout: float = 15.0, max_crashes: int = 3, drain_timeout: float = 2.0) -> None:
        self.bus = bus
        self.executor = executor
        self.worker_id = executor.worker_id
        self.capacity = capacity
        self.poll_interval = poll_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.max_crashes = max_crashes
        self.drain_timeout = drain_timeout
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, tuple[asyncio.Task[str], CancelFlag, bool]] = {}
        """run id -> (its task, its cancel flag, whether it was claimed isolated)."""
        self.recovered: dict[str, list[str]] = {}

    # -- called by the API in this process ---------------------------------------------------------

    def notify(self) -> None:
        """A run was queued: claim it now rather than at the next poll."""
        self._wake.set()

    def request_cancel(self, run_id: str) -> None:
        """The fast path: flip the executor's flag (right after `cancelling` commits, before answering)."""
        running = self._running.get(run_id)
        if running is not None:
            running[1].set()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._recover()  # a restarted server finds its predecessor's runs (dead pid) at once
        self._tasks = [asyncio.create_task(self._loop(), name="runs-worker"),
                       asyncio.create_task(self._sweep(), name="runs-sweep"),
                       asyncio.create_task(self._heartbeat(), name="runs-heartbeat"),
                       asyncio.create_task(self._watch(), name="runs-watch")]

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks = [task for task, _, _ in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.drain_timeout)
        unfinished = []
        me = self.worker_id
        for run_id, (running, _, _) in list(self._running.items()):
            if not running.done():
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running
                unfinished.append(run_id)
        try:
            async with self.bus.transaction() as tx:
                for run_id in unfinished:
                    row = await run_moves.run_row(tx.session, run_id)
                    if row is not None and row["status"] == "in_progress" and row["worker_id"] == me:
                        await run_moves.requeue_run(tx.session, row, owner=me, count_attempt=False)
                # Ours that were cancelled while we drained, and cancels nobody holds: finish them now.
                await run_moves.finish_orphaned_cancels(tx.session, me=self.worker_id, mine=unfinished)
        except Exception:
            log.exception("could not hand back runs at shutdown; another worker recovers them")

    # -- the loops ---------------------------------------------------------------------------------

    async def _loop(self) -> None:
        # Only claims here: a notified run is picked up without waiting for the sweeps below.
        while not self._stopping:
            self._wake.clear()
            try:
                await self._claim()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming runs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _claim(self) -> None:
        free = self.capacity - len(self._running)
        if free <= 0 or any(isolated for _, _, isolated in self._running.values()):
            return  # an isolated run is decoded alone
        async with self.bus.transaction() as tx:
            rows = await run_moves.claim_runs(tx.session, self.worker_id, free, busy=len(self._running))
        for row in rows:
            self._launch(p.run_object(row), isolated=row["isolated"])

    async def _sweep(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.poll_interval)
            try:
                async with self.bus.transaction() as tx:
                    await run_moves.expire_runs(tx.session)
                    await run_moves.finish_orphaned_cancels(tx.session)
                await self._recover()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("run sweep failed")

    async def _recover(self) -> None:
        async with self.bus.transaction() as tx:
            outcome = await run_moves.recover_stale_runs(tx.session, me=self.worker_id,
                                                         stale_after=self.heartbeat_timeout,
                                                         max_crashes=self.max_crashes)
        if any(outcome.values()):
            log.warning("recovered the runs of a stopped worker: %s", {k: len(v) for k, v in outcome.items()})
            self.recovered = {k: self.recovered.get(k, []) + v for k, v in outcome.items()}
            self._wake.set()

    async def _heartbeat(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.heartbeat_timeout / 5)
            try:
                async with self.bus.database.write() as session:
                    owned = await run_moves.heartbeat(session, self.worker_id, [
                        run_id for run_id, (task, _, _) in self._running.items() if not task.done()])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat failed")
                continue
            for run_id, (task, flag, _) in list(self._running.items()):
                if task.done():
                    continue
                if run_id not in owned:
                    # Taken from us (we were presumed dead): stop; its writes are guarded by owner.
                    log.warning("run %s is no longer ours; stopping it", run_id)
                    flag.set()
                elif owned[run_id]:
                    flag.set()  # a cancel whose event we missed

    async def _watch(self) -> None:
        """Runs queued and cancels requested in any process reach this worker through the log."""
        after = self.bus.tail.published
        async for batch in self.bus.follow_batches(_LIFECYCLE, after):
            for event in batch:
                if event.event == E.RUN_QUEUED:
                    self._wake.set()
                elif event.event == E.RUN_CANCELLING and event.run_id is not None:
                    self.request_cancel(event.run_id)

    def _launch(self, run: Run, *, isolated: bool) -> None:
        flag = CancelFlag()
        metrics.observe_queue_wait((run.started_at or run.created_at) - run.created_at)
        with logs.log_context(run_id=run.id, thread_id=run.thread_id):  # the task copies this context
            task = asyncio.create_task(self.executor.execute(run, flag), name=f"run-{run.id}")
        self._running[run.id] = (task, flag, isolated)
        task.add_done_callback(metrics.run_task_observer())
        task.add_done_callback(functools.partial(self._finished, run.id))

    def _finished(self, run_id: str, task: asyncio.Task[str]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # The executor could not even record a failure (database gone?): the run stays
            # in_progress, our heartbeat keeps it ours, and it is re-run when this worker stops.
            log.error("run %s: executor crashed", run_id, exc_info=task.exception())
        if not self._stopping:
            self._running.pop(run_id, None)
            self._wake.set()  # a slot is free


async def start_worker(settings: Settings, bus: EventBus, models: Models,
                       retrieval: Retrieval | None = None) -> Worker:
    """The worker for the served models: each run decodes on its own model (`run.model`); up to
    --parallel runs at once."""

    async def start_generation(inference: Inference, prompt: Prompt, params: SamplingParams) -> Generation:
        return await inference.generate(prompt.ids, params, cache_key=prompt.cache_key)

    executor = Executor(bus, models, start_generation, max_tool_rounds=settings.max_tool_rounds,
                        worker_id=run_moves.new_worker_id(),
                        crash_on_metadata=settings.debug_crash_on_metadata, retrieval=retrieval)
    worker = Worker(bus, executor, capacity=settings.parallel, heartbeat_timeout=settings.heartbeat_timeout,
                    poll_interval=min(1.0, settings.heartbeat_timeout / 5))
    await worker.start()
    return worker
