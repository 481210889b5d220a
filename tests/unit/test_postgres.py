"""The event log and the claims on PostgreSQL (127.0.0.1:5432, a fresh database per test module).

No skip: a missing PostgreSQL fails these tests, as the backend they cover would be untested.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import sqlalchemy as sa

from assistants.events import Event, EventBus, EventFilter, run_stream_stop
from assistants.store import Database, run_moves
from assistants.store.migrate import upgrade_to_head
from assistants.store.models import threads

SERVER = os.environ.get("ASSISTANTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
"""Where the test database is created (trust auth); from the README's test instructions."""
RUNS = ["run_a", "run_b", "run_c", "run_d"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    name = f"assistants_test_{os.getpid()}_{random.randrange(1 << 30)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(SERVER)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(SERVER).set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False)
    try:
        upgrade_to_head(url)  # the migrations run on PostgreSQL too
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture()
async def databases(pg_url: str) -> AsyncIterator[list[Database]]:
    dbs = [await Database.open(pg_url), await Database.open(pg_url)]
    async with dbs[0].write() as session:
        await session.execute(sa.delete(threads))
        await session.execute(sa.insert(threads), [{"id": "thread_" + run, "created_at": 0} for run in RUNS])
    yield dbs
    for db in dbs:
        await db.close()


@pytest.mark.parametrize("seed", [7, 8])
async def test_followers_of_two_processes_see_exactly_the_log_on_postgres(
        databases: list[Database], seed: int) -> None:
    """Two buses (two processes' worth of pools and tails, woken by NOTIFY) write one log from many
    concurrent transactions; every follower sees exactly the committed log after its start."""
    rng = random.Random(seed)
    buses = [EventBus(db, flush_interval=0.005, subscriber_limit=50) for db in databases]
    for one in buses:
        await one.start()

    async def publisher(writer: EventBus, run: str) -> None:
        for n in range(60):
            if rng.random() < 0.3:
                async with writer.transaction() as tx:
                    tx.emit("thread.run.step.created", {"n": n}, run_id=None, thread_id="thread_" + run)
            else:
                writer.emit("thread.message.delta", {"n": n}, thread_id="thread_" + run)
            await asyncio.sleep(rng.random() * 0.003)
        async with writer.transaction() as tx:
            tx.emit("thread.run.completed", {}, thread_id="thread_" + run)

    async def follower(reader: EventBus, flt: EventFilter, after: int) -> list[Event]:
        got: list[Event] = []
        async for event in reader.follow(flt, after, stop=run_stream_stop(pause_on_requires_action=False)):
            assert event is not None
            got.append(event)
        return got

    try:
        start = await buses[0].last_seq()
        publishers = [asyncio.create_task(publisher(buses[n % 2], run)) for n, run in enumerate(RUNS)]
        followers = []
        for _ in range(10):
            await asyncio.sleep(rng.random() * 0.04)
            flt = EventFilter(thread_id="thread_" + rng.choice(RUNS))
            reader = rng.choice(buses)
            known = await reader.replay(flt, start)
            after = rng.choice(known).seq if known and rng.random() < 0.7 else start
            followers.append((flt, after, asyncio.create_task(follower(reader, flt, after))))
        await asyncio.gather(*publishers)
        for flt, after, task in followers:
            got = await asyncio.wait_for(task, 20)
            expected = await buses[0].replay(flt, after)
            assert [(e.seq, e.data) for e in got] == [(e.seq, e.data) for e in expected]
            assert got[-1].event == "thread.run.completed"
    finally:
        for one in buses:
            await one.close()


async def test_created_at_is_a_float_and_seq_64_bit_on_postgres(databases: list[Database]) -> None:
    async with databases[0].write() as session:
        types = dict((await session.execute(sa.text(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'run_events'"
        ))).all())
    assert types["seq"] == "bigint" and types["created_at"] in ("double precision", "real")


async def test_claims_are_atomic_on_postgres(databases: list[Database]) -> None:
    import msgspec

    from assistants import protocol as p
    from assistants import store

    async with databases[0].write() as session:
        assistant = await store.create_assistant(
            session, msgspec.convert({"model": "m"}, p.CreateAssistantRequest))
    ids = set()
    for n in range(12):
        async with databases[n % 2].write() as session:
            thread = await store.create_thread(session, p.CreateThreadRequest())
            run = await store.create_run(session, thread["id"], msgspec.convert(
                {"assistant_id": assistant["id"]}, p.CreateRunRequest))
            ids.add(run["id"])

    async def claim(worker: int) -> list[str]:
        async with databases[worker % 2].write() as session:
            return [row["id"] for row in await run_moves.claim_runs(session, f"w{worker}", 3)]

    claims = await asyncio.gather(*(claim(n) for n in range(8)))
    claimed = [run_id for batch in claims for run_id in batch]
    while rest := await claim(99):  # SKIP LOCKED may have left some to a later claim
        claimed += rest
    assert sorted(claimed) == sorted(ids)  # every run exactly once
