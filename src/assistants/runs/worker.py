"""Runs as a job kind of the process's worker (`jobs.worker`, which owns the loop, the capacity, the
heartbeat and shutdown). A `queued` run row is the queue entry; a run belongs to the worker that
claimed it (`store.run_moves`). What is particular to runs:
* a run queued in another process reaches this worker as a `thread.run.queued` event from the log
  (the event tail wakes `watch` within a poll tick), a cancel requested there as
  `thread.run.cancelling` (the heartbeat reports any it missed);
* the sweep expires runs left waiting past `expires_at`, finishes cancels of runs no worker holds,
  and recovers the runs of dead workers (the attempt rule is in run_moves);
* a run stopped at shutdown is re-queued from the start, its attempt not counted.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from assistants import logs, metrics
from assistants import protocol as p
from assistants.events import EventBus
from assistants.jobs import CancelFlag, Job
from assistants.jobs.announcements import follow_announcements
from assistants.protocol.events import RunEventName as E
from assistants.protocol.runs import Run
from assistants.runs.executor import Executor
from assistants.store import run_moves

if TYPE_CHECKING:
    from assistants.inference import Generation, Inference, SamplingParams
    from assistants.inference.models import Models
    from assistants.jobs import Worker
    from assistants.retrieval.service import Retrieval
    from assistants.runs.prompt import Prompt
    from assistants.store import Session

log = logging.getLogger("assistants.runs.worker")


class RunJobs:
    name = "run"

    def __init__(self, bus: EventBus, executor: Executor, *, heartbeat_timeout: float = 15.0,
                 max_crashes: int = 3) -> None:
        self.bus = bus
        self.executor = executor
        self.worker_id = executor.worker_id
        self.heartbeat_timeout = heartbeat_timeout
        self.max_crashes = max_crashes
        self.recovered: dict[str, list[str]] = {}
        """Run ids this worker recovered from dead workers, by outcome (for logs and tests)."""

    async def claim(self, session: Session, limit: int, *, busy: int) -> Sequence[Job]:
        rows = await run_moves.claim_runs(session, self.worker_id, limit, busy=busy)
        jobs = []
        for row in rows:
            run = p.run_object(row)
            metrics.observe_queue_wait((run.started_at or run.created_at) - run.created_at)
            jobs.append(Job(run.id, functools.partial(self._execute, run), isolated=row["isolated"]))
        return jobs

    async def _execute(self, run: Run, flag: CancelFlag) -> str:
        started = time.monotonic()
        with logs.log_context(run_id=run.id, thread_id=run.thread_id):
            status = await self.executor.execute(run, flag)
        metrics.observe_run_finished(status, time.monotonic() - started)
        return status

    async def heartbeat(self, session: Session, job_ids: Collection[str]) -> dict[str, bool]:
        return await run_moves.heartbeat(session, self.worker_id, job_ids)

    async def sweep(self, session: Session, running: Collection[str]) -> bool:
        await run_moves.expire_runs(session)
        await run_moves.finish_orphaned_cancels(session)
        outcome = await run_moves.recover_stale_runs(session, me=self.worker_id,
                                                     stale_after=self.heartbeat_timeout,
                                                     max_crashes=self.max_crashes)
        if not any(outcome.values()):
            return False
        log.warning("recovered the runs of a stopped worker: %s", {k: len(v) for k, v in outcome.items()})
        self.recovered = {k: self.recovered.get(k, []) + v for k, v in outcome.items()}
        return True

    async def hand_back(self, session: Session, unfinished: Collection[str]) -> None:
        me = self.worker_id
        for run_id in unfinished:
            row = await run_moves.run_row(session, run_id)
            if row is not None and row["status"] == "in_progress" and row["worker_id"] == me:
                await run_moves.requeue_run(session, row, owner=me, count_attempt=False)
        # Ours that were cancelled while we drained, and cancels nobody holds: finish them now.
        await run_moves.finish_orphaned_cancels(session, me=me, mine=unfinished)

    async def watch(self, worker: Worker) -> None:
        """Runs queued and cancels requested in any process reach this worker through the log."""
        await follow_announcements(self.bus, worker, queued=E.RUN_QUEUED, cancelling=E.RUN_CANCELLING,
                                   job_id=lambda event: event.run_id)


def run_executor(bus: EventBus, models: Models, *, worker_id: str, max_tool_rounds: int,
                 crash_on_metadata: str | None = None, retrieval: Retrieval | None = None) -> Executor:
    """The executor for the served models: each run decodes on its own model (`run.model`)."""

    async def start_generation(inference: Inference, prompt: Prompt, params: SamplingParams) -> Generation:
        return await inference.generate(prompt.ids, params, cache_key=prompt.cache_key)

    return Executor(bus, models, start_generation, max_tool_rounds=max_tool_rounds, worker_id=worker_id,
                    crash_on_metadata=crash_on_metadata, retrieval=retrieval)
