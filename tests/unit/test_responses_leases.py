"""Background responses are leased like runs: recovery re-queues only those whose worker is dead (stale
heartbeat, or a process gone on this host), never a live worker's; the attempt cap then fails them."""

from __future__ import annotations

import socket
import time
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from assistants.errors import NotFound
from assistants.events import EventBus, EventFilter
from assistants.responses.worker import ResponseJobs
from assistants.store import Database
from assistants.store import responses as store
from assistants.store.events import read_after
from assistants.store.leases import owner_is_dead
from assistants.store.models import responses

DEAD_PID = 2**22 + 12345  # above the default pid_max: no such process


@pytest.fixture()
def database(backend_database: Database) -> Database:
    """Every test here runs on SQLite and on PostgreSQL (the leases' and announcements' SQL)."""
    return backend_database


def row(response_id: str, **changes: Any) -> dict[str, Any]:
    values = {
        "id": response_id, "created_at": 1, "status": "in_progress", "model": "m", "instructions": None,
        "previous_response_id": None, "conversation_id": None, "store": True, "background": True, "tools": [],
        "tool_choice": "auto", "parallel_tool_calls": True, "text": {"format": {"type": "text"}},
        "truncation": "disabled", "max_output_tokens": None, "max_tool_calls": None, "temperature": 1.0,
        "top_p": 1.0, "user": None, "prompt_cache_key": None, "metadata": {}, "output": [], "usage": None,
        "error": None, "incomplete_details": None, "completed_at": None, "cancel_requested_at": None,
        "attempts": 1, "worker_id": None, "heartbeat_at": None}
    return {**values, **changes}


async def statuses(database: Database) -> dict[str, tuple[str, int]]:
    async with database.read() as session:
        result = await session.execute(sa.select(responses.c.id, responses.c.status, responses.c.attempts))
        return {r[0]: (r[1], r[2]) for r in result}


async def test_recovery_touches_only_dead_workers(database: Database) -> None:
    host = socket.gethostname()
    live = "elsewhere:1:aaaaaa"
    async with database.write() as session:
        await store.insert_response(session, row("resp_live", worker_id=live, heartbeat_at=time.time()), [])
        stale = time.time() - 60
        await store.insert_response(session, row("resp_stale", worker_id=live, heartbeat_at=stale), [])
        await store.insert_response(session, row("resp_gone", worker_id=f"{host}:{DEAD_PID}:bbbbbb",
                                                 heartbeat_at=time.time()), [])
        await store.insert_response(session, row("resp_tired", worker_id=live, heartbeat_at=0, attempts=3),
                                    [])
    kind = ResponseJobs(EventBus(database), models=None, heartbeat_timeout=15)
    async with database.write() as session:
        assert await kind.sweep(session, running=()) is True  # something became claimable
    assert await statuses(database) == {"resp_live": ("in_progress", 1), "resp_stale": ("queued", 1),
                                        "resp_gone": ("queued", 1), "resp_tired": ("failed", 3)}
    async with database.read() as session:
        tired = await store.get_response(session, "resp_tired")
        logged = await store.events_after(session, "resp_tired", -1)
    assert tired["error"]["code"] == "server_error" and tired["worker_id"] is None
    assert [e["type"] for e in logged] == ["response.failed"]


async def test_claim_heartbeat_and_a_lost_lease(database: Database) -> None:
    async with database.write() as session:
        await store.insert_response(session, row("resp_q", status="queued", attempts=0), [])
    async with database.write() as session:
        [claimed] = await store.claim_responses(session, "me:1:cccccc", 4)
        assert claimed["worker_id"] == "me:1:cccccc" and claimed["attempts"] == 1
        assert await store.claim_responses(session, "other:1:dddddd", 4) == []
    async with database.write() as session:
        assert await store.heartbeat(session, "me:1:cccccc", ["resp_q"]) == {"resp_q": False}
        await store.set_response(session, "resp_q", ("in_progress",), cancel_requested_at=5)
        assert await store.heartbeat(session, "me:1:cccccc", ["resp_q"]) == {"resp_q": True}
        assert await store.heartbeat(session, "other:1:dddddd", ["resp_q"]) == {}
        # A worker presumed dead cannot finish what another one took over.
        assert await store.finish_response(session, "resp_q", {"status": "completed"}, [],
                                           owner="other:1:dddddd") is None


def test_an_owner_is_dead_when_its_heartbeat_is_stale_or_its_local_process_gone() -> None:
    host, fresh = socket.gethostname(), time.time()

    def dead(worker_id: str | None, heartbeat_at: float | None = fresh, me: str = "me") -> bool:
        return owner_is_dead(worker_id, heartbeat_at, me=me, stale_before=fresh - 15)

    assert dead(f"{host}:{DEAD_PID}:x")
    assert not dead(f"{host}:1:x")  # pid 1 exists
    assert not dead(f"other-host:{DEAD_PID}:x")  # another host: wait for its heartbeat
    assert dead(f"other-host:{DEAD_PID}:x", heartbeat_at=fresh - 60)
    assert dead(f"{host}:1:x", heartbeat_at=None)
    assert not dead(f"{host}:{DEAD_PID}:x", me=f"{host}:{DEAD_PID}:x")  # our own: judged by heartbeat
    assert dead(None)


async def test_shutdown_hands_back_our_responses_and_skips_deleted_ones(database: Database) -> None:
    kind = ResponseJobs(EventBus(database), models=None, worker_id="me:1:cccccc")
    async with database.write() as session:
        await store.insert_response(session, row("resp_mine", worker_id=kind.worker_id,
                                                 heartbeat_at=time.time()), [])
        await store.insert_response(session, row("resp_theirs", worker_id="other:1:dddddd",
                                                 heartbeat_at=time.time()), [])
    async with database.write() as session:
        await kind.hand_back(session, ["resp_deleted_meanwhile", "resp_mine", "resp_theirs"])
    # Back to queued, the interrupted attempt not counted; another worker's response untouched.
    assert await statuses(database) == {"resp_mine": ("queued", 0), "resp_theirs": ("in_progress", 1)}


async def announcements(database: Database) -> list[tuple[str, str | None]]:
    async with database.read() as session:
        events = await read_after(session, EventFilter(include_deltas=False), 0)
    return [(event.event, event.response_id) for event in events]


async def test_queueing_requeueing_and_cancels_are_announced_in_the_run_event_log(database: Database) -> None:
    """What a worker in another process follows (`jobs.announcements`); deleted with the response."""
    async with database.write() as session:
        await store.enqueue_response(session, row("resp_a", status="queued", attempts=0), [], [])
    async with database.write() as session:
        [claimed] = await store.claim_responses(session, "gone:1:aaaaaa", 1)
        assert await store.request_cancel(session, "resp_a") is not None
        await store.rewind_response(session, claimed, keep_events=2, count_attempt=True)
        assert await store.request_cancel(session, "resp_a") is None  # queued: nobody to stop
    assert await announcements(database) == [("response.queued", "resp_a"), ("response.cancelling", "resp_a"),
                                             ("response.queued", "resp_a")]
    async with database.read() as session:
        [queued] = await read_after(session, EventFilter(), 0, limit=1)
    assert msgspec.json.decode(queued.data)["id"] == "resp_a" and queued.thread_id is None
    async with database.write() as session:
        await store.delete_response(session, "resp_a")
    assert await announcements(database) == []


async def test_a_chain_loads_in_order_to_its_first_stored_response(database: Database) -> None:
    def item(n: int) -> dict[str, Any]:
        return {"id": f"msg_{n}", "type": "message", "role": "user", "content": [{"type": "input_text",
                                                                                   "text": str(n)}]}

    async with database.write() as session:
        previous = None
        for n in range(3):
            await store.insert_response(session, row(f"resp_{n}", status="completed",
                                                     previous_response_id=previous), [item(n)])
            previous = f"resp_{n}"
    async with database.read() as session:
        items, first = await store.chain_items(session, "resp_2")
        assert ([i["id"] for i in items], first) == (["msg_0", "msg_1", "msg_2"], "resp_0")
    async with database.write() as session:
        await store.delete_response(session, "resp_1")  # the history now starts after the gap
    async with database.read() as session:
        assert await store.chain_items(session, "resp_2") == ([item(2)], "resp_2")
        with pytest.raises(NotFound):
            await store.chain_items(session, "resp_1")
