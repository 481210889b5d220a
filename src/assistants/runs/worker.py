"""The worker: claims queued runs and executes up to `capacity` of them at once.

It is owned by `Services` (started and stopped with the app's lifespan):
* start-up applies crash recovery (`queue.recover_runs`) before claiming anything;
* the loop waits on (a run was queued -> `notify()`, an executor finished, the poll timer), claims as
  many runs as there are free slots (capacity = the engine's parallel sequences, so a claimed run
  starts decoding at the next batch step), and expires runs left queued past `expires_at`;
* shutdown drains: no new claims; in-flight runs get `drain_timeout` seconds to finish, the rest are
  stopped and rewound to `queued` (partial message removed, attempt not counted) so the next start
  runs them again from the beginning. A SIGKILL skips this; start-up recovery then does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from assistants.events import EventBus
from assistants.protocol.runs import Run
from assistants.runs import queue
from assistants.runs.executor import CancelFlag, Executor
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
        self._loop_task: asyncio.Task[None] | None = None
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
        self._loop_task = asyncio.create_task(self._loop(), name="runs-worker")

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        tasks = [task for task, _ in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.drain_timeout)
        for run_id, (task, _) in list(self._running.items()):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                await self._rewind(run_id)

    # -- the loop -----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        next_expiry = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            try:
                if loop.time() >= next_expiry:
                    await queue.expire_runs(self.bus)
                    await queue.finish_orphaned_cancels(self.bus, set(self._running))
                    next_expiry = loop.time() + self.poll_interval
                free = self.capacity - len(self._running)
                if free > 0:
                    for run in await queue.claim_runs(self.bus, free):
                        self._launch(run)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker iteration failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    def _launch(self, run: Run) -> None:
        flag = CancelFlag()
        task = asyncio.create_task(self.executor.execute(run, flag), name=f"run-{run.id}")
        self._running[run.id] = (task, flag)
        task.add_done_callback(lambda _, run_id=run.id: self._finished(run_id))

    def _finished(self, run_id: str) -> None:
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

    async def start_generation(prompt: str, temperature: float, top_p: float, max_tokens: int,
                               grammar: str | None = None) -> Generation:
        params = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_tokens, grammar=grammar)
        return await inference.generate(prompt, params)

    worker = Worker(bus, Executor(bus, inference, start_generation), capacity=settings.parallel)
    await worker.start()
    return worker
