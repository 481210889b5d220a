"""The worker: claims queued runs and executes up to `capacity` of them at once.

It is owned by `Services` (started and stopped with the app's lifespan):
* start-up applies crash recovery (`queue.recover_runs`) before claiming anything;
* the claim loop waits on (a run was queued -> `notify()`, an executor finished, the poll timer) and
  claims as many runs as there are free slots (capacity = the engine's parallel sequences, so a claimed
  run starts decoding at the next batch step); nothing else sits on that path;
* a sweep task (every poll interval) expires runs left queued / requires_action past `expires_at` and
  finishes `cancelling` runs no executor holds;
* shutdown drains: no new claims; in-flight runs get `drain_timeout` seconds to finish, the rest are
  stopped and rewound to `queued` (partial message removed, attempt not counted) so the next start
  runs them again from the beginning. A SIGKILL skips this; start-up recovery then does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from assistants import logs, metrics
from assistants.events import EventBus
from assistants.protocol.runs import Run
from assistants.runs import queue
from assistants.runs.executor import CancelFlag, Executor, Prompt
from assistants.settings import Settings

if TYPE_CHECKING:
    from assistants.inference import Generation, Inference

log = logging.getLogger("assistants.runs.worker")


class Worker:
    def __init__(self, bus: EventBus, executor: Executor, *, capacity: int, poll_interval: float = 1.0,
                 max_attempts: int = 3, drain_timeout: float = 2.0) -> None:
        self.bus = bus
        self.executor = executor
        self.capacity = capacity
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.drain_timeout = drain_timeout
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, tuple[asyncio.Task[str], CancelFlag]] = {}
        self.recovered: dict[str, list[str]] = {}

    # -- called by the API --------------------------------------------------------------------------

    def notify(self) -> None:
        """A run was queued: claim it now rather than at the next poll."""
        self._wake.set()

    def request_cancel(self, run_id: str) -> None:
        """Flip the executor's flag. Call it right after `cancelling` commits, before answering."""
        running = self._running.get(run_id)
        if running is not None:
            running[1].set()

    @property
    def running(self) -> list[str]:
        return list(self._running)

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.recovered = await queue.recover_runs(self.bus, max_attempts=self.max_attempts)
        if any(self.recovered.values()):
            log.warning("crash recovery: %s", {k: len(v) for k, v in self.recovered.items()})
        self._tasks = [asyncio.create_task(self._loop(), name="runs-worker"),
                       asyncio.create_task(self._sweep(), name="runs-sweep")]

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks = [task for task, _ in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.drain_timeout)
        for run_id, (task, _) in list(self._running.items()):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                await self._rewind(run_id)
        try:  # runs cancelled while we drained: nobody will run them again, finish them now
            await queue.finish_orphaned_cancels(self.bus, ())
        except Exception:
            log.exception("could not finish cancelling runs at shutdown; start-up recovery will")

    # -- the loop -----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        # Only claims here: a notified run is picked up without waiting for the sweeps below.
        while not self._stopping:
            self._wake.clear()
            try:
                free = self.capacity - len(self._running)
                if free > 0:
                    for run in await queue.claim_runs(self.bus, free):
                        self._launch(run)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming runs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _sweep(self) -> None:
        """Expire runs left waiting past expires_at; finish cancels nobody is running."""
        while not self._stopping:
            try:
                await queue.expire_runs(self.bus)
                await queue.finish_orphaned_cancels(self.bus, set(self._running))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("run sweep failed")
            await asyncio.sleep(self.poll_interval)

    def _launch(self, run: Run) -> None:
        flag = CancelFlag()
        metrics.observe_queue_wait((run.started_at or run.created_at) - run.created_at)
        with logs.log_context(run_id=run.id, thread_id=run.thread_id):  # the task copies this context
            task = asyncio.create_task(self.executor.execute(run, flag), name=f"run-{run.id}")
        self._running[run.id] = (task, flag)
        task.add_done_callback(metrics.run_task_observer())
        task.add_done_callback(lambda done, run_id=run.id: self._finished(run_id, done))

    def _finished(self, run_id: str, task: asyncio.Task[str]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # The executor could not even record a failure (database gone?): the run stays
            # in_progress and start-up recovery resolves it.
            log.error("run %s: executor crashed", run_id, exc_info=task.exception())
        if not self._stopping:
            self._running.pop(run_id, None)
            self._wake.set()  # a slot is free

    async def _rewind(self, run_id: str) -> None:
        try:
            async with self.bus.transaction() as tx:
                row = await queue.run_row_by_id(tx.session, run_id)
                if row is not None and row["status"] == "in_progress":
                    await queue.rewind_run(tx, row, count_attempt=False)
        except Exception:
            log.exception("could not re-queue run %s at shutdown; start-up recovery will", run_id)


async def start_worker(settings: Settings, bus: EventBus, inference: Inference) -> Worker:
    """The worker for a served model: one run per engine sequence, so a claimed run decodes at once."""

    from assistants.inference import SamplingParams

    async def start_generation(prompt: Prompt, temperature: float, top_p: float, max_tokens: int,
                               grammar: str | None = None) -> Generation:
        params = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_tokens, grammar=grammar)
        return await inference.generate(prompt.ids, params, cache_key=prompt.cache_key)

    executor = Executor(bus, inference, start_generation, max_tool_rounds=settings.max_tool_rounds)
    worker = Worker(bus, executor, capacity=settings.parallel)
    await worker.start()
    return worker
