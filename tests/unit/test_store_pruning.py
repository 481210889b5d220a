"""Pruning old deltas (store.pruning, events.pruner): only finished runs and background responses
created before the cutoff lose them, only their deltas go, each is visited once, and two pruners at
once do no harm."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from assistants import protocol as p
from assistants import store
from assistants.events.pruner import DeltaPruner
from assistants.store import Database, pruning
from assistants.store import events as log
from assistants.store import responses as response_store
from assistants.store.models import responses, runs
from tests.unit.test_responses_leases import row as response_row

LIFECYCLE = ["thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.message.created",
             "thread.message.completed", "thread.run.completed"]
DAY = 86_400


@pytest.fixture()
def database(backend_database: Database) -> Database:
    """The deletes and the SKIP LOCKED candidates, on SQLite and on PostgreSQL."""
    return backend_database


async def logged_run(db: Database, *, status: str, age: float, deltas: int = 3) -> str:
    """A run of `status`, created `age` seconds ago, with its lifecycle events around `deltas` deltas."""
    async with db.write() as session:
        assistant = await store.create_assistant(session, p.CreateAssistantRequest(model="m"))
        thread = await store.create_thread(session, None)
        run = await store.create_run(session, thread["id"], p.CreateRunRequest(assistant_id=assistant["id"]))
        await session.execute(sa.update(runs).where(runs.c.id == run["id"])
                              .values(status=status, created_at=int(time.time() - age)))
        names = LIFECYCLE[2:4] + ["thread.message.delta"] * deltas + ["thread.run.step.delta"] + LIFECYCLE[4:]
        await log.insert_events(session, [log.run_event(run, name, {"n": n}) for n, name in enumerate(names)])
    return str(run["id"])


async def run_events(db: Database, run_id: str) -> list[str]:
    async with db.read() as session:
        return [e.event for e in await log.read_after(session, log.EventFilter(run_id=run_id), 0)]


async def background_response(db: Database, response_id: str, *, status: str, age: float) -> None:
    types = ["response.created", "response.in_progress", "response.output_text.delta",
             "response.output_text.delta", "response.function_call_arguments.delta",
             "response.output_text.done", "response.completed"]
    events: list[dict[str, Any]] = [{"type": t, "sequence_number": n} for n, t in enumerate(types)]
    async with db.write() as session:
        await response_store.insert_response(session, response_row(
            response_id, status=status, created_at=int(time.time() - age)), [])
        await response_store.append_events(session, response_id, events)


async def response_types(db: Database, response_id: str) -> list[str]:
    async with db.read() as session:
        return [e["type"] for e in await response_store.events_after(session, response_id, -1)]


async def test_only_finished_runs_past_the_cutoff_lose_their_deltas(database: Database) -> None:
    old_done = await logged_run(database, status="completed", age=2 * DAY)
    old_failed = await logged_run(database, status="failed", age=2 * DAY)
    old_live = await logged_run(database, status="in_progress", age=2 * DAY)
    recent = await logged_run(database, status="completed", age=60)
    before = {run_id: await run_events(database, run_id) for run_id in (old_live, recent)}

    assert await DeltaPruner(database, retention=DAY).prune_once() == (2, 0)

    for run_id in (old_done, old_failed):
        assert await run_events(database, run_id) == LIFECYCLE  # created and queued came with the run
    for run_id, names in before.items():
        assert await run_events(database, run_id) == names and "thread.message.delta" in names
    async with database.read() as session:
        marked = dict((await session.execute(sa.select(runs.c.id, runs.c.deltas_pruned))).all())
    assert marked == {old_done: True, old_failed: True, old_live: False, recent: False}
    assert await DeltaPruner(database, retention=DAY).prune_once() == (0, 0)  # each one is visited once


async def test_background_responses_lose_their_deltas_the_same_way(database: Database) -> None:
    await background_response(database, "resp_old", status="completed", age=2 * DAY)
    await background_response(database, "resp_running", status="in_progress", age=2 * DAY)
    await background_response(database, "resp_recent", status="completed", age=60)

    assert await DeltaPruner(database, retention=DAY).prune_once() == (0, 1)

    assert await response_types(database, "resp_old") == [
        "response.created", "response.in_progress", "response.output_text.done", "response.completed"]
    for kept in ("resp_running", "resp_recent"):
        assert "response.output_text.delta" in await response_types(database, kept)
    async with database.read() as session:
        marked = dict((await session.execute(sa.select(responses.c.id, responses.c.deltas_pruned))).all())
    assert marked == {"resp_old": True, "resp_running": False, "resp_recent": False}


async def test_a_pass_works_through_every_batch(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pruning, "BATCH", 2)
    batches = []
    prune = pruning.prune_run_deltas

    async def counted(session: Any, **kwargs: Any) -> int:
        batches.append(await prune(session, **kwargs))
        return batches[-1]

    monkeypatch.setattr(pruning, "prune_run_deltas", counted)
    old = [await logged_run(database, status="completed", age=2 * DAY, deltas=1) for _ in range(5)]
    assert await DeltaPruner(database, retention=DAY).prune_once() == (5, 0)
    assert batches == [2, 2, 1]  # one transaction each
    for run_id in old:
        assert "thread.message.delta" not in await run_events(database, run_id)


async def test_two_pruners_at_once_prune_each_run_once(database: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pruning, "BATCH", 3)
    old = [await logged_run(database, status="completed", age=2 * DAY) for _ in range(8)]
    passes = await asyncio.gather(DeltaPruner(database, retention=DAY).prune_once(),
                                  DeltaPruner(database, retention=DAY).prune_once())
    assert sum(runs for runs, _ in passes) == len(old)
    for run_id in old:
        assert await run_events(database, run_id) == LIFECYCLE


def test_the_pass_interval_follows_the_retention() -> None:
    assert DeltaPruner(None, retention=7 * DAY).interval == 600  # type: ignore[arg-type]
    assert DeltaPruner(None, retention=2).interval == 1  # type: ignore[arg-type]
