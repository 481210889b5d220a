"""Event bus: batching flusher, commit-before-publish, replay -> live handover without gaps or duplicates."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from assistants.events import Event, EventBus, EventFilter, run_stream_stop
from assistants.events import tail as tail_module
from assistants.store import Database

DDL = """CREATE TABLE run_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, thread_id TEXT,
assistant_id TEXT, response_id TEXT, event TEXT NOT NULL, data TEXT NOT NULL, created_at REAL NOT NULL)"""
"""The log alone (no runs or threads to point at): the bus needs nothing else."""


async def open_log(path: Path) -> Database:
    """A `Database` as the server opens it (its own engines and write lock: one per "process")."""
    with sqlite3.connect(path) as connection:  # creates the file the first time
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'run_events'").fetchone():
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(DDL)
    return await Database.open(f"sqlite+aiosqlite:///{path}")


@pytest.fixture()
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_log(tmp_path / "events.db")
    yield db
    await db.close()


@pytest.fixture()
async def bus(database: Database) -> AsyncIterator[EventBus]:
    bus = EventBus(database, flush_interval=0.01, subscriber_limit=50)
    await bus.start()
    yield bus
    await bus.close()


def emit(bus: EventBus, run: str, name: str, n: int) -> None:
    bus.emit(name, {"n": n}, run_id=run, thread_id="thread_" + run, assistant_id="asst_1")


async def test_emits_are_batched_into_few_commits(bus: EventBus, database: Database) -> None:
    for n in range(300):
        emit(bus, f"run_{n % 3}", "thread.message.delta", n)
    async with asyncio.timeout(10):
        while bus.flushes == 0:  # noqa: ASYNC110 - the counter is what is under test
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # room for a (wrong) second flush
    events = await bus.replay(EventFilter())
    assert [msgspec.json.decode(e.data)["n"] for e in events] == list(range(300))
    assert [e.seq for e in events] == sorted({e.seq for e in events})
    # 300 emits in one loop iteration: one flush commits them all.
    assert bus.flushes == 1


async def test_nothing_is_published_before_it_commits(bus: EventBus) -> None:
    seen: list[Event] = []

    async def listen() -> None:
        async for event in bus.follow(EventFilter(run_id="run_a")):
            if event is not None:
                seen.append(event)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.05)
    async with bus.transaction() as tx:
        tx.emit("thread.run.in_progress", {"x": 1}, run_id="run_a", thread_id="thread_a")
        await asyncio.sleep(0.05)
        assert seen == []  # written but not committed
    await asyncio.sleep(0.05)
    assert [e.event for e in seen] == ["thread.run.in_progress"]
    listener.cancel()


async def test_failed_transaction_keeps_buffered_deltas_and_drops_its_own(bus: EventBus) -> None:
    bus.flush_interval = 10  # keep the flusher out of the way
    emit(bus, "run_a", "thread.message.delta", 1)
    with pytest.raises(RuntimeError):
        async with bus.transaction() as tx:
            tx.emit("thread.run.completed", {}, run_id="run_a", thread_id="thread_run_a")
            raise RuntimeError("boom")
    async with bus.transaction() as tx:
        tx.emit("thread.run.failed", {}, run_id="run_a", thread_id="thread_run_a")
    assert [e.event for e in await bus.replay(EventFilter())] == ["thread.message.delta", "thread.run.failed"]


async def test_transaction_orders_buffered_events_before_its_own(bus: EventBus) -> None:
    bus.flush_interval = 10
    emit(bus, "run_a", "thread.message.delta", 1)
    emit(bus, "run_b", "thread.message.delta", 2)
    async with bus.transaction() as tx:
        tx.emit("thread.run.completed", {}, run_id="run_a", thread_id="thread_run_a")
    names = [(e.run_id, e.event) for e in await bus.replay(EventFilter())]
    assert names == [("run_a", "thread.message.delta"), ("run_b", "thread.message.delta"),
                     ("run_a", "thread.run.completed")]


async def test_filters(bus: EventBus) -> None:
    emit(bus, "run_a", "thread.run.created", 0)
    emit(bus, "run_a", "thread.message.delta", 1)
    emit(bus, "run_b", "thread.run.created", 2)
    await bus.flush()
    assert [e.run_id for e in await bus.replay(EventFilter(run_id="run_b"))] == ["run_b"]
    lifecycle = await bus.replay(EventFilter(include_deltas=False))
    assert [e.event for e in lifecycle] == ["thread.run.created"] * 2
    assert len(await bus.replay(EventFilter(thread_id="thread_run_a"))) == 2
    assert await bus.replay(EventFilter(assistant_id="asst_2")) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_followers_joining_at_random_times_see_exactly_the_log(bus: EventBus, seed: int) -> None:
    """Concurrent publishers (buffered emits and transactions); followers attach mid-stream with a
    random `after`. Each one's sequence must equal the committed log after that point: no gap, no dup.
    The subscriber limit (50) is small, so slow followers also exercise the lagged -> log fallback."""
    rng = random.Random(seed)
    runs = ["run_a", "run_b", "run_c"]

    async def publisher(run: str) -> None:
        for n in range(120):
            if rng.random() < 0.2:
                async with bus.transaction() as tx:
                    tx.emit("thread.run.step.created", {"n": n}, run_id=run, thread_id="thread_" + run)
            else:
                emit(bus, run, "thread.message.delta", n)
            await asyncio.sleep(rng.random() * 0.004)
        async with bus.transaction() as tx:
            tx.emit("thread.run.completed", {}, run_id=run, thread_id="thread_" + run)

    async def follower(flt: EventFilter, after: int, slow: bool) -> list[Event]:
        got: list[Event] = []
        async for event in bus.follow(flt, after, stop=run_stream_stop(pause_on_requires_action=False)):
            assert event is not None
            got.append(event)
            if slow:
                await asyncio.sleep(0.003)
        return got

    publishers = [asyncio.create_task(publisher(run)) for run in runs]
    followers = []
    for _ in range(12):
        await asyncio.sleep(rng.random() * 0.05)
        flt = EventFilter(run_id=rng.choice(runs))
        # Resuming after the run's last event follows a finished run: `replay_only` (tested below)
        # is how the routes end that; a live follow of it rightly waits for more.
        known = [e for e in await bus.replay(flt) if e.event != "thread.run.completed"]
        after = rng.choice(known).seq if known and rng.random() < 0.7 else 0
        followers.append((flt, after, asyncio.create_task(follower(flt, after, rng.random() < 0.5))))
    await asyncio.gather(*publishers)
    for flt, after, task in followers:
        got = await asyncio.wait_for(task, 10)
        expected = await bus.replay(flt, after)
        assert [(e.seq, e.data) for e in got] == [(e.seq, e.data) for e in expected]
        assert got[-1].event == "thread.run.completed"


async def test_replay_only_ends_after_the_log_even_past_the_stop_event(bus: EventBus) -> None:
    emit(bus, "run_a", "thread.message.delta", 0)
    async with bus.transaction() as tx:
        tx.emit("thread.run.completed", {}, run_id="run_a", thread_id="thread_run_a")
    events = await bus.replay(EventFilter(run_id="run_a"))
    stop = run_stream_stop(pause_on_requires_action=False)

    async def batches(after: int) -> list[list[Event]]:
        async with asyncio.timeout(10):
            return [b async for b in bus.follow_batches(EventFilter(run_id="run_a"), after, stop=stop,
                                                        replay_only=True)]

    assert await batches(0) == [events]
    assert await batches(events[-1].seq) == []  # a live follow would wait here for ever


async def test_keepalive_ticks_while_idle(bus: EventBus) -> None:
    ticks = 0
    async for event in bus.follow(EventFilter(run_id="run_z"), keepalive=0.02):
        assert event is None
        ticks += 1
        if ticks == 3:
            break


async def test_created_at_keeps_sub_second_precision(bus: EventBus) -> None:
    emit(bus, "run_a", "thread.run.created", 0)
    await bus.flush()
    (event,) = await bus.replay(EventFilter())
    # The pickup-latency measurement needs more than whole seconds (a .0 exactly is a 1e-6 chance).
    assert event.created_at != int(event.created_at)


@pytest.mark.parametrize("wakes", ["watch", "poll"])
async def test_events_another_process_commits_reach_followers_unasked(database: Database, tmp_path: Path,
                                                                      wakes: str, monkeypatch) -> None:
    """A second Database on the same file is another process's writer: nobody pokes this bus, and
    its follower still gets the event. `watch`: through inotify alone, every poll an hour away;
    `poll`: with no watch (not Linux), the tail polls the log while someone subscribes."""
    if wakes == "poll":
        monkeypatch.setattr(tail_module, "open_watch", lambda path: None)
    bus = EventBus(database, flush_interval=0.01, subscriber_limit=50)
    if wakes == "watch":
        bus.tail.poll_interval = bus.tail.idle_interval = 3600.0
    await bus.start()
    assert (bus.tail._watch is not None) == (wakes == "watch")
    try:
        await _another_process_commits(bus, tmp_path)
    finally:
        await bus.close()


async def _another_process_commits(bus: EventBus, tmp_path: Path) -> None:
    seen: list[Event] = []
    got = asyncio.Event()

    async def listen() -> None:
        async for event in bus.follow(EventFilter(), after=0):
            if event is not None:
                seen.append(event)
                got.set()

    listener = asyncio.create_task(listen())
    # Live before the write: a follower that joined after it would read the event in its replay.
    for _ in range(500):
        if bus.fanout.has_subscribers:
            break
        await asyncio.sleep(0.01)
    assert bus.fanout.has_subscribers
    await asyncio.sleep(0.2)
    other = await open_log(tmp_path / "events.db")
    try:
        async with other.write() as session:
            await session.execute(sa.text(
                "INSERT INTO run_events (run_id, thread_id, assistant_id, event, data, created_at) "
                "VALUES ('run_x', 'thread_x', NULL, 'thread.run.created', '{}', 1.5)"))
        await asyncio.wait_for(got.wait(), 10)
    finally:
        await other.close()
        listener.cancel()
    assert [(e.run_id, e.event) for e in seen] == [("run_x", "thread.run.created")]


@pytest.mark.parametrize("seed", [4, 5])
async def test_followers_of_two_processes_see_exactly_the_log(tmp_path: Path, seed: int) -> None:
    """Two buses on two Databases (two processes' worth of engines, locks and tails) write one log;
    followers attached to either, at random points, each see exactly the committed log after their
    start: the multi-writer path keeps no gap and no duplicate."""
    rng = random.Random(seed)
    databases = [await open_log(tmp_path / "shared.db"), await open_log(tmp_path / "shared.db")]
    buses = [EventBus(db, flush_interval=0.01, subscriber_limit=50) for db in databases]
    for one in buses:
        await one.start()
    runs = ["run_a", "run_b", "run_c", "run_d"]

    async def publisher(writer: EventBus, run: str) -> None:
        for n in range(80):
            if rng.random() < 0.2:
                async with writer.transaction() as tx:
                    tx.emit("thread.run.step.created", {"n": n}, run_id=run, thread_id="thread_" + run)
            else:
                emit(writer, run, "thread.message.delta", n)
            await asyncio.sleep(rng.random() * 0.004)
        async with writer.transaction() as tx:
            tx.emit("thread.run.completed", {}, run_id=run, thread_id="thread_" + run)

    async def follower(reader: EventBus, flt: EventFilter, after: int, slow: bool) -> list[Event]:
        got: list[Event] = []
        async for event in reader.follow(flt, after, stop=run_stream_stop(pause_on_requires_action=False)):
            assert event is not None
            got.append(event)
            if slow:
                await asyncio.sleep(0.003)
        return got

    try:
        publishers = [asyncio.create_task(publisher(buses[n % 2], run)) for n, run in enumerate(runs)]
        followers = []
        for _ in range(12):
            await asyncio.sleep(rng.random() * 0.05)
            flt = EventFilter(run_id=rng.choice(runs))
            reader = rng.choice(buses)
            known = await reader.replay(flt)
            after = rng.choice(known).seq if known and rng.random() < 0.7 else 0
            task = asyncio.create_task(follower(reader, flt, after, rng.random() < 0.5))
            followers.append((flt, after, task))
        await asyncio.gather(*publishers)
        for flt, after, task in followers:
            got = await asyncio.wait_for(task, 20)
            expected = await buses[0].replay(flt, after)
            assert [(e.seq, e.data) for e in got] == [(e.seq, e.data) for e in expected]
            assert got[-1].event == "thread.run.completed"
    finally:
        for one in buses:
            await one.close()
        for db in databases:
            await db.close()


async def test_what_one_flush_publishes_reaches_a_follower_as_one_batch(bus: EventBus) -> None:
    bus.flush_interval = 10  # flushes only when the test says
    batches: list[list[str]] = []
    follower_ready = asyncio.Event()

    async def follow() -> None:
        follower_ready.set()
        stop = run_stream_stop(pause_on_requires_action=False)
        async for batch in bus.follow_batches(EventFilter(run_id="run_a"), stop=stop):
            batches.append([e.event for e in batch])

    task = asyncio.create_task(follow())
    await follower_ready.wait()
    await asyncio.sleep(0.01)
    for n in range(3):
        emit(bus, "run_a", "thread.message.delta", n)
    emit(bus, "run_b", "thread.message.delta", 0)  # another run's: filtered out
    await bus.flush()
    await asyncio.sleep(0.01)
    emit(bus, "run_a", "thread.run.completed", 3)
    emit(bus, "run_a", "thread.run.step.completed", 4)  # after the stop event: not sent
    await bus.flush()
    await asyncio.wait_for(task, 5)
    assert batches == [["thread.message.delta"] * 3, ["thread.run.completed"]]
