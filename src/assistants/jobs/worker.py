"""The worker: one per process, it leases durable jobs (runs, background responses) from the store and
executes up to `capacity` of them at once, whatever their kind.

A job is a row a worker claims; the row then carries the worker's id and a heartbeat (`store.leases`).
Each kind (`JobKind`: `runs.worker.RunJobs`, `responses.worker.ResponseJobs`) knows its own rows — how
to claim them, heartbeat them, sweep them, hand them back — and how to execute one; all their SQL is
in `store/`. This loop owns what they share:
* one worker id (every kind's rows are leased by it), and one capacity budget: a slot is a slot,
  whichever kind fills it. An isolated job (a run suspected of killing its worker) is decoded alone:
  it is claimed only by an idle worker, and nothing is claimed beside it;
* one wake-up path, `notify()`: a job was queued in this process, a slot came free, a kind's `watch`
  saw a job queued in another process; the poll timer is the backstop;
* one heartbeat transaction for every running job (every `heartbeat_interval`); its answer also
  delivers cancels written by other processes, and stops a job taken from us (we were presumed dead);
* one sweep (every `poll_interval`, and at start): each kind's maintenance and dead-worker recovery;
* shutdown drains: no new claims; in-flight jobs get `drain_timeout` seconds to finish, the rest are
  stopped and handed back (queued again, attempt not counted). A SIGKILL skips this; the heartbeat
  goes stale and another worker (or this one, restarted) recovers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from assistants.jobs.cancel import CancelFlag

if TYPE_CHECKING:
    from assistants.events import EventBus
    from assistants.store import Session

log = logging.getLogger("assistants.jobs.worker")


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed row, ready to execute."""

    id: str
    execute: Callable[[CancelFlag], Coroutine[Any, Any, object]]
    isolated: bool = False
    """Decoded alone (see the module docstring)."""


class JobKind(Protocol):
    """One kind of leased row. Every method but `execute`'s runs in a write transaction the worker
    opened; `worker_id` is the one the worker leases with."""

    name: str
    worker_id: str

    async def claim(self, session: Session, limit: int, *, busy: int) -> Sequence[Job]:
        """Claim up to `limit` queued rows (`busy`: how many jobs the worker executes now)."""

    async def heartbeat(self, session: Session, job_ids: Collection[str]) -> dict[str, bool]:
        """Refresh our running rows: those still ours, each with whether a cancel was requested."""

    async def sweep(self, session: Session, running: Collection[str]) -> bool:
        """Maintenance and dead-worker recovery (never touching `running`, ours); True when a row
        became claimable."""

    async def hand_back(self, session: Session, unfinished: Collection[str]) -> None:
        """Shutdown: our rows whose execution was stopped go back to the queue (attempt not counted)."""

    async def watch(self, worker: Worker) -> None:
        """Optional wake-ups from other processes (`worker.notify`, `worker.request_cancel`); may return
        at once when the kind has none (the poll timer then picks up other processes' jobs)."""


@dataclass(slots=True)
class _Running:
    kind: JobKind
    task: asyncio.Task[object]
    flag: CancelFlag = field(default_factory=CancelFlag)
    isolated: bool = False


class Worker:
    def __init__(self, bus: EventBus, kinds: Sequence[JobKind], *, capacity: int, poll_interval: float = 1.0,
                 heartbeat_interval: float | None = None, drain_timeout: float = 2.0) -> None:
        ids = {kind.worker_id for kind in kinds}
        if len(ids) != 1:
            raise ValueError(f"one worker id per worker, not {sorted(ids)}")
        self.bus = bus
        self.kinds = list(kinds)
        self.worker_id = ids.pop()
        self.capacity = capacity
        self.poll_interval = poll_interval
        self.heartbeat_interval = poll_interval if heartbeat_interval is None else heartbeat_interval
        self.drain_timeout = drain_timeout
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, _Running] = {}
        self._first = 0
        """Which kind claims first in the next round (rotates, so no kind starves another)."""

    # -- called by the API in this process ---------------------------------------------------------

    def notify(self) -> None:
        """A job was queued: claim it now rather than at the next poll."""
        self._wake.set()

    def holds(self, job_id: str) -> bool:
        """This worker executes the job now."""
        return job_id in self._running

    def request_cancel(self, job_id: str) -> None:
        """The fast path: flip the job's flag (right after the cancel commits, before answering)."""
        running = self._running.get(job_id)
        if running is not None:
            running.flag.set()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._sweep_once()  # a restarted server finds its predecessor's jobs (dead pid) at once
        self._tasks = [asyncio.create_task(self._loop(), name="worker-claim"),
                       asyncio.create_task(self._sweep(), name="worker-sweep"),
                       asyncio.create_task(self._heartbeat(), name="worker-heartbeat"),
                       *(asyncio.create_task(kind.watch(self), name=f"worker-watch-{kind.name}")
                         for kind in self.kinds)]

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks = [running.task for running in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.drain_timeout)
        unfinished: dict[str, list[str]] = {kind.name: [] for kind in self.kinds}
        for job_id, running in list(self._running.items()):
            if not running.task.done():
                running.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running.task
                unfinished[running.kind.name].append(job_id)
        try:
            async with self.bus.transaction() as tx:
                for kind in self.kinds:
                    await kind.hand_back(tx.session, unfinished[kind.name])
        except Exception:
            log.exception("could not hand back jobs at shutdown; another worker recovers them")

    # -- the loops ---------------------------------------------------------------------------------

    async def _loop(self) -> None:
        # Only claims here: a notified job is picked up without waiting for the sweeps below.
        while not self._stopping:
            self._wake.clear()
            try:
                await self._claim()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming jobs failed")
            # asyncio.timeout, not wait_for: wait_for runs the wait in a task of its own, and the
            # wake-up then takes three loop turns to reach this one (each behind whatever else is ready).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

    async def _claim(self) -> None:
        free = self.capacity - len(self._running)
        if free <= 0 or any(running.isolated for running in self._running.values()):
            return  # an isolated job is decoded alone
        order = self.kinds[self._first:] + self.kinds[:self._first]
        self._first = (self._first + 1) % len(self.kinds)
        claimed: list[tuple[JobKind, Job]] = []

        async def take(session: Session, kind: JobKind, limit: int) -> int:
            jobs = await kind.claim(session, limit, busy=len(self._running) + len(claimed))
            claimed.extend((kind, job) for job in jobs)
            return len(jobs)

        async with self.bus.transaction() as tx:
            # A fair share each first (so a burst of one kind does not take every slot), then what is
            # left to the kinds that filled theirs; an isolated job ends the round.
            hungry = []
            for index, kind in enumerate(order):
                share = -(-free // (len(order) - index))
                got = await take(tx.session, kind, share)
                free -= got
                if got == share:
                    hungry.append(kind)
                if any(job.isolated for _, job in claimed):
                    hungry = []
                    break
            for kind in hungry:
                if free <= 0 or any(job.isolated for _, job in claimed):
                    break
                free -= await take(tx.session, kind, free)
        for kind, job in claimed:
            self._launch(kind, job)

    def _launch(self, kind: JobKind, job: Job) -> None:
        flag = CancelFlag()
        task = asyncio.create_task(job.execute(flag), name=f"{kind.name}-{job.id}")
        self._running[job.id] = _Running(kind, task, flag, job.isolated)
        task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: str, task: asyncio.Task[object]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # The job could not even record a failure (database gone?): its row stays in progress, and
            # without its heartbeat it goes stale and is recovered.
            log.error("job %s crashed", job_id, exc_info=task.exception())
        if not self._stopping:
            self._running.pop(job_id, None)
            self._wake.set()  # a slot is free

    async def _sweep(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.poll_interval)
            try:
                await self._sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job sweep failed")

    async def _sweep_once(self) -> None:
        claimable = False
        async with self.bus.transaction() as tx:
            for kind in self.kinds:
                running = [job_id for job_id, r in self._running.items() if r.kind is kind]
                claimable = await kind.sweep(tx.session, running) or claimable
        if claimable:
            self._wake.set()

    async def _heartbeat(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.heartbeat_interval)
            # A job whose task ended but is still listed (shutdown) is not refreshed: it goes stale.
            live = {job_id: r for job_id, r in self._running.items() if not r.task.done()}
            if not live:
                continue
            owned: dict[str, bool] = {}
            try:
                async with self.bus.database.write() as session:
                    for kind in self.kinds:
                        ids = [job_id for job_id, r in live.items() if r.kind is kind]
                        if ids:
                            owned |= await kind.heartbeat(session, ids)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat failed")
                continue
            for job_id, running in live.items():
                if job_id not in owned:
                    # Taken from us (we were presumed dead): stop; its writes are guarded by owner.
                    log.warning("job %s is no longer ours; stopping it", job_id)
                    running.flag.set()
                elif owned[job_id]:
                    running.flag.set()  # a cancel written by another process, or whose event we missed

