"""The one worker loop with two job kinds (in-memory fakes; the real kinds are tested in test_worker and
test_responses_*): one capacity budget across kinds, an isolated job decoded alone, one heartbeat that
stops a job taken from us, and shutdown handing unfinished jobs back to their own kind."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Any

import pytest

from assistants.events import EventBus
from assistants.jobs import CancelFlag, Job, Worker
from assistants.store import Database, Session


class FakeKind:
    """Queued job ids in memory; a job runs until its flag is set or `release` is called."""

    def __init__(self, name: str, worker_id: str = "me:1:aaaaaa") -> None:
        self.name = name
        self.worker_id = worker_id
        self.queued: list[tuple[str, bool]] = []
        self.started: list[str] = []
        self.ended: dict[str, str] = {}
        self.handed_back: list[str] = []
        self.taken: set[str] = set()
        """Jobs another worker took over (the heartbeat does not report them as ours)."""
        self.release = asyncio.Event()

    def queue(self, job_id: str, *, isolated: bool = False) -> None:
        self.queued.append((job_id, isolated))

    async def claim(self, session: Session, limit: int, *, busy: int) -> Sequence[Job]:
        jobs = []
        while self.queued and len(jobs) < limit:
            job_id, isolated = self.queued[0]
            if isolated and (jobs or busy):
                break
            self.queued.pop(0)
            jobs.append(Job(job_id, functools.partial(self._execute, job_id), isolated=isolated))
            if isolated:
                break
        return jobs

    async def _execute(self, job_id: str, flag: CancelFlag) -> str:
        self.started.append(job_id)
        stopped = asyncio.Event()
        flag.on_set(stopped.set)
        done = asyncio.ensure_future(self.release.wait())
        stop = asyncio.ensure_future(stopped.wait())
        await asyncio.wait([done, stop], return_when=asyncio.FIRST_COMPLETED)
        done.cancel()
        stop.cancel()
        self.ended[job_id] = "cancelled" if flag.is_set() else "completed"
        return self.ended[job_id]

    async def heartbeat(self, session: Session, job_ids: Collection[str]) -> dict[str, bool]:
        return {job_id: False for job_id in job_ids if job_id not in self.taken}

    async def sweep(self, session: Session, running: Collection[str]) -> bool:
        return False

    async def hand_back(self, session: Session, unfinished: Collection[str]) -> None:
        self.handed_back += unfinished

    async def watch(self, worker: Worker) -> None:
        return None


@pytest.fixture()
async def bus(database: Database) -> AsyncIterator[EventBus]:
    bus = EventBus(database, flush_interval=0.005)
    await bus.start()
    yield bus
    await bus.close()


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def worker_of(bus: EventBus, *kinds: Any, capacity: int) -> Worker:
    return Worker(bus, list(kinds), capacity=capacity, poll_interval=0.05, drain_timeout=0.05)


async def test_kinds_share_one_capacity_and_both_get_slots(bus: EventBus) -> None:
    runs, responses = FakeKind("run"), FakeKind("response")
    for n in range(4):
        runs.queue(f"run_{n}")
        responses.queue(f"resp_{n}")
    worker = worker_of(bus, runs, responses, capacity=3)
    await worker.start()
    try:
        await until(lambda: len(runs.started) + len(responses.started) == 3)
        await asyncio.sleep(0.2)  # more polls: still no fourth job beside them
        assert len(runs.started) + len(responses.started) == 3
        assert runs.started and responses.started  # neither kind starves the other
        runs.release.set()
        responses.release.set()
        await until(lambda: len(runs.ended) + len(responses.ended) == 8)
    finally:
        await worker.close()


async def test_an_isolated_job_runs_alone(bus: EventBus) -> None:
    runs, responses = FakeKind("run"), FakeKind("response")
    runs.queue("run_poison", isolated=True)
    responses.queue("resp_1")
    worker = worker_of(bus, runs, responses, capacity=4)
    await worker.start()
    try:
        await until(lambda: bool(runs.started) or bool(responses.started))
        await asyncio.sleep(0.2)
        started = runs.started + responses.started
        assert len(started) == 1  # whichever came first, nothing beside the isolated one
        runs.release.set()
        responses.release.set()
        await until(lambda: len(runs.ended) + len(responses.ended) == 2)
    finally:
        await worker.close()


async def test_a_job_taken_from_us_is_stopped_by_the_heartbeat(bus: EventBus) -> None:
    responses = FakeKind("response")
    responses.queue("resp_1")
    worker = Worker(bus, [responses], capacity=1, poll_interval=0.05)
    await worker.start()
    try:
        await until(lambda: responses.started == ["resp_1"])
        responses.taken.add("resp_1")
        await until(lambda: responses.ended.get("resp_1") == "cancelled")
    finally:
        await worker.close()


async def test_shutdown_hands_each_unfinished_job_back_to_its_kind(bus: EventBus) -> None:
    runs, responses = FakeKind("run"), FakeKind("response")
    runs.queue("run_1")
    responses.queue("resp_1")
    worker = worker_of(bus, runs, responses, capacity=2)
    await worker.start()
    await until(lambda: len(runs.started) + len(responses.started) == 2)
    await worker.close()
    assert (runs.handed_back, responses.handed_back) == (["run_1"], ["resp_1"])


async def test_one_worker_id_per_worker(bus: EventBus) -> None:
    with pytest.raises(ValueError, match="one worker id"):
        Worker(bus, [FakeKind("run", "a:1:x"), FakeKind("response", "b:2:y")], capacity=1)
