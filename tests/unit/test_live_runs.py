"""The live-run view (runs.live): after every change of a run, by this process or another, a
retrieve answers what the store answers; unchanged runs of ours come from the cache; helper polls
are held until the run's next lifecycle event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from assistants import protocol as p
from assistants import store
from assistants.errors import NotFound
from assistants.events import EventBus
from assistants.protocol.codec import encoder
from assistants.runs.live import LiveRuns, hold_for
from assistants.store import Database, Record, run_moves

ME, OTHER = "worker-me", "worker-other"


@pytest.fixture()
def database(backend_database: Database) -> Database:
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_database


@pytest.fixture()
async def live(database: Database) -> AsyncIterator[LiveRuns]:
    view = LiveRuns(database, worker_id=ME)
    try:
        yield view
    finally:
        await view.close()


async def _queued_run(db: Database) -> Record:
    async with db.write() as session:
        assistant = await store.create_assistant(session, p.CreateAssistantRequest(model="m"))
        thread = await store.create_thread(session, None)
        return await store.create_run(session, thread["id"], p.CreateRunRequest(assistant_id=assistant["id"]))


async def _claim(db: Database, worker_id: str) -> Record:
    async with db.write() as session:
        (claimed,) = await run_moves.claim_runs(session, worker_id, 1)
    return claimed


async def _from_store(db: Database, run: Record) -> bytes:
    async with db.read() as session:
        return encoder.encode(p.run_object(await store.get_run(session, run["thread_id"], run["id"])))


async def _fresh(live: LiveRuns, db: Database, run: Record) -> bytes:
    body = await live.retrieve(run["thread_id"], run["id"])
    assert body == await _from_store(db, run)
    return body


async def test_every_change_of_our_run_is_seen_at_once_and_unchanged_polls_hit(
        database: Database, live: LiveRuns) -> None:
    run = await _queued_run(database)
    await _fresh(live, database, run)  # queued: nobody holds it, read through the store
    run = await _claim(database, ME)
    await _fresh(live, database, run)
    hits = live.hits
    await _fresh(live, database, run)
    await _fresh(live, database, run)
    assert live.hits == hits + 2  # ours and unchanged: the prebuilt bytes

    async with database.write() as session:  # metadata, from any process
        await store.update_run(session, run["thread_id"], run["id"], p.UpdateRunRequest(metadata={"k": "v"}))
    assert b'"k":"v"' in await _fresh(live, database, run)
    async with database.write() as session:  # a cancel asked in another process
        await store.cancel_run(session, run["thread_id"], run["id"])
    assert b'"status":"cancelling"' in await _fresh(live, database, run)
    async with database.write() as session:
        await run_moves.cancel_owned(session, run["id"], owner=ME)
    assert b'"status":"cancelled"' in await _fresh(live, database, run)
    hits = live.hits
    await _fresh(live, database, run)  # terminal: cached whoever held it
    assert live.hits == hits + 1


async def test_back_to_queued_and_claimed_again_is_a_new_version(database: Database, live: LiveRuns) -> None:
    # in_progress -> queued -> in_progress by the same worker between two polls: same status and
    # owner (and here the same wire object: one second), so the claim count tells them apart.
    await _queued_run(database)
    run = await _claim(database, ME)
    await _fresh(live, database, run)
    async with database.write() as session:
        await run_moves.requeue_run(session, run, owner=ME)
    await _claim(database, ME)
    misses = live.misses
    await _fresh(live, database, run)
    assert live.misses == misses + 1


async def test_runs_held_by_another_worker_always_read_the_store(database: Database, live: LiveRuns) -> None:
    run = await _queued_run(database)
    run = await _claim(database, OTHER)
    hits = live.hits
    for _ in range(3):
        await _fresh(live, database, run)
    assert live.hits == hits
    async with database.write() as session:
        await run_moves.fail_run(session, run["id"], {"code": "server_error", "message": "x"}, owner=OTHER)
    assert b'"status":"failed"' in await _fresh(live, database, run)


async def test_a_view_without_a_worker_caches_only_terminal_runs(database: Database) -> None:
    view = LiveRuns(database, worker_id=None)
    try:
        await _queued_run(database)
        run = await _claim(database, ME)
        await _fresh(view, database, run)
        await _fresh(view, database, run)
        assert view.hits == 0
    finally:
        await view.close()


async def test_a_run_of_another_thread_is_a_404(database: Database, live: LiveRuns) -> None:
    run = await _queued_run(database)
    other = await _queued_run(database)
    await _claim(database, ME)
    await live.retrieve(run["thread_id"], run["id"])
    with pytest.raises(NotFound):
        await live.retrieve(other["thread_id"], run["id"])
    with pytest.raises(NotFound):
        await live.retrieve(run["thread_id"], "run_nope")


async def test_a_held_poll_answers_at_the_next_lifecycle_event(database: Database) -> None:
    bus = EventBus(database)
    await bus.start()
    view = LiveRuns(database, worker_id=ME)
    view.start(bus)
    try:
        await _queued_run(database)
        run = await _claim(database, ME)
        await bus.flush()  # the claim's events are published: they are older than the poll
        held = asyncio.create_task(view.retrieve(run["thread_id"], run["id"], hold=60))
        await asyncio.sleep(0.05)
        assert not held.done()
        async with bus.transaction() as tx:  # published to the view's watcher once committed
            await store.cancel_run(tx.session, run["thread_id"], run["id"])
        body = await asyncio.wait_for(held, 30)  # long before the 60 s hold
        assert b'"status":"cancelling"' in body and body == await _from_store(database, run)
        async with bus.transaction() as tx:
            await run_moves.cancel_owned(tx.session, run["id"], owner=ME)
        # Not a status the helper polls through: answered at once.
        body = await asyncio.wait_for(view.retrieve(run["thread_id"], run["id"], hold=60), 30)
        assert b'"status":"cancelled"' in body
    finally:
        await view.close()
        await bus.close()


def test_only_the_sdk_poll_helper_is_held_and_never_past_half_its_read_timeout() -> None:
    assert hold_for({}) == 0
    assert hold_for({"x-stainless-poll-helper": "true"}) == 1.0
    assert hold_for({"x-stainless-poll-helper": "true", "x-stainless-read-timeout": "0.5"}) == 0.25
    assert hold_for({"x-stainless-poll-helper": "true", "x-stainless-read-timeout": "junk"}) == 1.0
