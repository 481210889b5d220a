"""Background responses, the routes' side: enqueue (the row and its first events), cancel, and following
a response's event log for `GET /v1/responses/{id}?stream=true` (decoding is `responses.worker`'s).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from assistants.errors import InvalidRequest, NotFound
from assistants.protocol.responses import TERMINAL_STATUSES
from assistants.responses import service
from assistants.responses.events import TERMINAL_EVENTS, Event, ResponseEvents
from assistants.responses.worker import Followers, next_sequence, snapshot
from assistants.store import responses as response_store

if TYPE_CHECKING:
    from assistants.jobs import Worker

KEEPALIVE_SECONDS = 15.0
FOLLOW_POLL_SECONDS = 0.25
"""How often a follower reads the log when no in-process commit woke it."""
CANCEL_WAIT_POLLS = 50
"""A cancel waits up to 50 x 0.1 s for the decoder to stop, then answers with the row as it is."""


def _local_worker(services: Any) -> Worker | None:
    """This process's worker (`jobs.Worker`), if it runs one; without one (`--no-worker`) another
    process's worker claims the response, and cancels and followers go through the database alone."""
    return getattr(services, "worker", None)


def _followers(services: Any) -> Followers:
    """Wake-ups from this process's response decoder; without one, followers poll the log alone."""
    responses = getattr(services, "responses", None)
    return responses.followers if responses is not None else Followers()


async def enqueue(services: Any, prepared: service.Prepared) -> Mapping[str, Any]:
    runner = _local_worker(services)
    values = {**prepared.values, "status": "queued"}
    pending: list[Event] = []
    events = ResponseEvents(prepared.snapshot(status="queued"), pending.append)
    events.created()
    events.queued()
    async with services.database.write() as session:
        await response_store.enqueue_response(session, values, prepared.inputs, pending)
    # A worker in another process hears of it from the announcement in the run event log.
    if runner is not None:
        runner.notify()  # first: the claim then runs before the tail reads the log (as for runs)
    services.bus.poke()
    return values


async def cancel(services: Any, response_id: str) -> Mapping[str, Any]:
    """Cancel a background response; cancelling a finished one returns it as it is (idempotent)."""
    async with services.database.write() as session:
        row = await response_store.get_response(session, response_id)
        if not row["background"]:
            raise InvalidRequest("Only background responses can be cancelled.", param="response_id")
        if row["status"] in TERMINAL_STATUSES:
            return row
        if row["status"] == "queued":
            pending: list[Event] = []
            events = ResponseEvents(snapshot(row), pending.append,
                                    next_sequence=await next_sequence(session, response_id))
            events.finish("cancelled")
            updated = await response_store.set_response(session, response_id, ("queued",), status="cancelled")
            if updated is not None:
                await response_store.append_events(session, response_id, pending)
                return updated
        requested = await response_store.request_cancel(session, response_id)
    runner = _local_worker(services)
    if runner is not None:
        runner.request_cancel(response_id)  # the decoder stops within one step
    if requested is not None:
        services.bus.poke()  # another process's worker stops it when its log tail reads the announcement
    # Answer with the final object once the decoder (here or in another process) has stopped it.
    with _followers(services).watch(response_id) as woken:
        for _ in range(CANCEL_WAIT_POLLS):
            async with services.database.read() as session:
                row = await response_store.get_response(session, response_id)
            if row["status"] in TERMINAL_STATUSES:
                break
            woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), 0.1)
    return row


def forget(services: Any, response_id: str) -> None:
    """A deleted response stops decoding (its decoder then finds no row to finish)."""
    runner = _local_worker(services)
    if runner is not None:
        runner.request_cancel(response_id)


async def follow(services: Any, response_id: str, after: int) -> AsyncIterator[list[tuple[str, bytes]]]:
    """The logged events after `after` as (type, JSON) pairs, a batch at a time, until the terminal
    event; [] when a keepalive is due. Ends early if the response is deleted, or finished with
    nothing after `after` (resumed at its terminal event: the final row and that event commit
    together, so a finished row means the log is complete)."""
    idle = 0.0
    with _followers(services).watch(response_id) as woken:
        while True:
            woken.clear()
            async with services.database.read() as session:
                # The status first: on PostgreSQL each statement sees the latest commits, so a row
                # read as finished before the log read means the read holds its terminal event.
                status = await _status(session, response_id)
                logged = await response_store.events_after(session, response_id, after)
            if not logged and status in _OVER:
                return
            if logged:
                idle = 0.0
                after = logged[-1]["sequence_number"]
                yield [(row["type"], row["data"].encode()) for row in logged]
                if logged[-1]["type"] in TERMINAL_EVENTS:
                    return
                continue
            # Woken in-process after each commit; polled otherwise (another process decodes it).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), FOLLOW_POLL_SECONDS)
            idle += FOLLOW_POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield []


_OVER = TERMINAL_STATUSES | {None}


async def _status(session: Any, response_id: str) -> str | None:
    """The response's status; None once it is deleted."""
    try:
        row = await response_store.get_response(session, response_id)
    except NotFound:
        return None
    status: str = row["status"]
    return status
