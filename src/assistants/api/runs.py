"""/v1/threads/{thread_id}/runs and /v1/threads/runs: create, create-thread-and-run, list, retrieve,
modify, cancel. A created run is `queued`; a worker (when one runs) picks it up from the store.

Run responses carry `openai-poll-after-ms: 100`, so the SDK's `create_and_poll` polls every 100 ms
instead of every second.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import ServerSentEvent

from assistants import openapi, store
from assistants import protocol as p
from assistants.api.events import run_stream
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest, list_body
from assistants.events import EventBus
from assistants.jobs import Worker
from assistants.runs import tools as run_tools
from assistants.store import Database, Record

POLL_AFTER = [ResponseHeader(name="openai-poll-after-ms", value="100")]


def run_or_stream(bus: EventBus, row: Record, stream: bool | None) -> p.Run | ServerSentEvent:
    """The run object, or (`stream: true`) the SSE stream of the run's events from its very first one:
    they were committed with the run, so the stream replays them from the log before following live."""
    if stream:
        return run_stream(bus, row["id"])
    return p.run_object(row)


def notify_run_queued(bus: EventBus, worker: Worker | None) -> None:
    """Called after a `queued` run (and its first events) committed: publish those events to live
    subscribers and wake the worker. The worker also polls, so a missed wake-up only delays a run."""
    if worker is not None:
        worker.notify()  # first: the claim then runs before the tail reads the log (pickup latency)
    bus.poke()


@post("/v1/threads/runs", status_code=200, response_headers=POLL_AFTER, tags=["runs"],
      opt=openapi.body(p.CreateThreadAndRunRequest))
async def create_thread_and_run(request: Request[Any, Any, Any], database: NamedDependency[Database],
                                bus: NamedDependency[EventBus],
                                worker: NamedDependency[Worker | None]) -> p.Run | ServerSentEvent:
    body = p.decode(p.CreateThreadAndRunRequest, await request.body())
    thread_request = body.thread or p.CreateThreadRequest()
    if body.tool_resources is not None and thread_request.tool_resources is None:
        thread_request = msgspec.structs.replace(thread_request, tool_resources=body.tool_resources)
    async with database.write() as session:
        thread = await store.create_thread(session, thread_request)
        row = await store.create_run(session, thread["id"], body, new_thread=thread)
    notify_run_queued(bus, worker)
    return run_or_stream(bus, row, body.stream)


class RunsController(Controller):
    path = "/v1/threads/{thread_id:str}/runs"
    tags = ["runs"]
    response_headers = POLL_AFTER

    @post("/", status_code=200, opt=openapi.body(p.CreateRunRequest))
    async def create_run(self, thread_id: FromPath[str], request: Request[Any, Any, Any],
                         database: NamedDependency[Database], bus: NamedDependency[EventBus],
                         worker: NamedDependency[Worker | None]) -> p.Run | ServerSentEvent:
        # `include[]` (file_search result content) has nothing to include here and is ignored.
        body = p.decode(p.CreateRunRequest, await request.body())
        async with database.write() as session:
            row = await store.create_run(session, thread_id, body)
        notify_run_queued(bus, worker)
        return run_or_stream(bus, row, body.stream)

    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_runs(self, thread_id: FromPath[str], database: NamedDependency[Database],
                        page: NamedDependency[PageRequest]) -> p.ListResponse[p.Run]:
        async with database.read() as session:
            return list_body(await store.list_runs(session, thread_id, page), p.run_object)

    @get("/{run_id:str}")
    async def retrieve_run(self, thread_id: FromPath[str], run_id: FromPath[str],
                           database: NamedDependency[Database]) -> p.Run:
        async with database.read() as session:
            return p.run_object(await store.get_run(session, thread_id, run_id))

    @post("/{run_id:str}", status_code=200, opt=openapi.body(p.UpdateRunRequest))
    async def modify_run(self, thread_id: FromPath[str], run_id: FromPath[str],
                         request: Request[Any, Any, Any], database: NamedDependency[Database]) -> p.Run:
        body = p.decode(p.UpdateRunRequest, await request.body())
        async with database.write() as session:
            row = await store.update_run(session, thread_id, run_id, body)
        return p.run_object(row)

    @post("/{run_id:str}/submit_tool_outputs", status_code=200)
    async def submit_tool_outputs(self, thread_id: FromPath[str], run_id: FromPath[str],
                                  request: Request[Any, Any, Any], bus: NamedDependency[EventBus],
                                  worker: NamedDependency[Worker | None]) -> p.Run | ServerSentEvent:
        # Outputs are accepted only in requires_action and only when they answer every pending call;
        # `stream: true` answers with the run's events from this submission on.
        body = p.decode(p.SubmitToolOutputsRequest, await request.body())
        async with bus.transaction() as tx:
            row, after = await run_tools.submit_tool_outputs(tx.session, thread_id, run_id, body.tool_outputs)
        notify_run_queued(bus, worker)
        if body.stream:
            return run_stream(bus, run_id, after=after)
        return p.run_object(row)

    @post("/{run_id:str}/cancel", status_code=200)
    async def cancel_run(self, thread_id: FromPath[str], run_id: FromPath[str],
                         bus: NamedDependency[EventBus], worker: NamedDependency[Worker | None]) -> p.Run:
        # No body is read: the SDK sends none (with a JSON content type).
        # Through the bus: the `thread.run.cancelling` event is published once it commits. When this
        # process decodes the run, its executor's flag flips before this answers (no token is appended
        # after the cancel returns); another process's worker sees the event within a poll tick.
        async with bus.transaction() as tx:
            row = await store.cancel_run(tx.session, thread_id, run_id)
        if row["status"] == "cancelling" and worker is not None:
            worker.request_cancel(run_id)
        return p.run_object(row)
