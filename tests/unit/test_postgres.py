"""The event log, the claims, the pool and its timeouts on PostgreSQL (a fresh database per module).

No skip: a missing PostgreSQL fails these tests, as the backend they cover would be untested.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest
import sqlalchemy as sa

from assistants import protocol as p
from assistants import store
from assistants.errors import DatabaseUnavailable, InvalidRequest
from assistants.events import Event, EventBus, EventFilter, run_stream_stop
from assistants.store import Database, run_moves
from assistants.store.database import PostgresOptions
from assistants.store.migrate import upgrade_to_head
from assistants.store.models import assistants, threads
from tests.pgdatabase import fresh_database

RUNS = ["run_a", "run_b", "run_c", "run_d"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with fresh_database("unit") as url:
        upgrade_to_head(url)  # the migrations run on PostgreSQL too
        yield url


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


async def test_statement_timeout_cancels_a_runaway_statement_as_unavailable(pg_url: str) -> None:
    database = await Database.open(pg_url, PostgresOptions(statement_timeout=0.3))
    try:
        async with database.read() as session:
            assert (await session.execute(sa.text("SHOW statement_timeout"))).scalar() == "300ms"
        with pytest.raises(DatabaseUnavailable):
            async with database.read() as session:
                await session.execute(sa.text("SELECT pg_sleep(5)"))
        async with database.read() as session:  # the connection is fine for the next request
            assert (await session.execute(sa.text("SELECT 1"))).scalar() == 1
    finally:
        await database.close()


async def test_an_exhausted_pool_is_unavailable_after_the_pool_timeout(pg_url: str) -> None:
    database = await Database.open(pg_url, PostgresOptions(pool_size=2, max_overflow=1, pool_timeout=0.2))
    try:
        async with database.read() as one, database.read() as two, database.read() as three:
            for session in (one, two, three):  # a session takes its connection at its first statement
                await session.execute(sa.text("SELECT 1"))
            with pytest.raises(DatabaseUnavailable):
                async with database.read() as fourth:
                    await fourth.execute(sa.text("SELECT 1"))
    finally:
        await database.close()


async def test_nul_in_text_is_a_400_and_writes_nothing(databases: list[Database]) -> None:
    """PostgreSQL cannot store or compare NUL in text: a request holding one is refused whole."""
    async def count(table: sa.Table) -> int:
        async with databases[0].read() as session:
            return (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()

    before = await count(assistants), await count(threads)
    request = msgspec.convert({"model": "m", "name": "a\x00b"}, p.CreateAssistantRequest)
    with pytest.raises(InvalidRequest, match="NUL"):
        async with databases[0].write() as session:
            await store.create_thread(session, p.CreateThreadRequest())
            await store.create_assistant(session, request)
    with pytest.raises(InvalidRequest, match="NUL"):
        async with databases[0].read() as session:
            await store.get_assistant(session, "asst_\x00")
    assert (await count(assistants), await count(threads)) == before
