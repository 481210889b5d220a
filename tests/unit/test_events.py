"""Event bus: batching flusher, commit-before-publish, replay -> live handover without gaps or duplicates."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from assistants.events import Event, EventBus, EventFilter, run_stream_stop

DDL = """CREATE TABLE run_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, thread_id TEXT NOT NULL,
assistant_id TEXT, event TEXT NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL)"""


class FileDatabase:
    """Just enough of `assistants.store.Database` for the bus: one writer at a time, WAL reads."""

    def __init__(self, path: Path) -> None:
        self.engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.lock = asyncio.Lock()

    async def setup(self) -> None:
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            await conn.exec_driver_sql(DDL)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with self.lock, self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session


@pytest.fixture()
async def database(tmp_path: Path) -> AsyncIterator[FileDatabase]:
    db = FileDatabase(tmp_path / "events.db")
    await db.setup()
    yield db
    await db.engine.dispose()


@pytest.fixture()
async def bus(database: FileDatabase) -> AsyncIterator[EventBus]:
    bus = EventBus(database, flush_interval=0.01, subscriber_limit=50)
    await bus.start()
    yield bus
    await bus.close()


def emit(bus: EventBus, run: str, name: str, n: int) -> None:
    bus.emit(name, {"n": n}, run_id=run, thread_id="thread_" + run, assistant_id="asst_1")


async def test_emits_are_batched_into_few_commits(bus: EventBus, database: FileDatabase) -> None:
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
        known = await bus.replay(flt)
        after = rng.choice(known).seq if known and rng.random() < 0.7 else 0
        followers.append((flt, after, asyncio.create_task(follower(flt, after, rng.random() < 0.5))))
    await asyncio.gather(*publishers)
    for flt, after, task in followers:
        got = await asyncio.wait_for(task, 10)
        expected = await bus.replay(flt, after)
        assert [(e.seq, e.data) for e in got] == [(e.seq, e.data) for e in expected]
        assert got[-1].event == "thread.run.completed"


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


def test_sqlite_keeps_a_float_in_an_integer_column(tmp_path: Path) -> None:
    """The store declares run_events.created_at INTEGER; SQLite's affinity keeps a non-integral REAL."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (created_at INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1700000000.125)")
        assert conn.exec_driver_sql("SELECT created_at FROM t").scalar_one() == 1700000000.125


async def test_events_written_outside_the_bus_are_published_after_a_poke(bus: EventBus,
                                                                         database: FileDatabase) -> None:
    """A store repository appends to run_events in its own transaction; poke() publishes the tail."""
    seen: list[Event] = []

    async def listen() -> None:
        async for event in bus.follow(EventFilter(), after=0):
            if event is not None:
                seen.append(event)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.05)
    async with database.write() as session:
        await session.execute(sa.text(
            "INSERT INTO run_events (run_id, thread_id, assistant_id, event, data, created_at) "
            "VALUES ('run_x', 'thread_x', NULL, 'thread.run.created', '{}', 1)"))
    await asyncio.sleep(0.1)
    assert seen == []  # committed, but nobody told the bus
    bus.poke()
    await asyncio.sleep(0.1)
    assert [(e.run_id, e.event) for e in seen] == [("run_x", "thread.run.created")]
    listener.cancel()


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
