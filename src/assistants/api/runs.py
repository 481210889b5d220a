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
from litestar.response import ServerSentEvent

from assistants import openapi, store
from assistants import protocol as p
from assistants.api.events import run_stream
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest, list_body
from assistants.errors import InvalidRequest
from assistants.runs import tools as run_tools
from assistants.services import Services

POLL_AFTER = [ResponseHeader(name="openai-poll-after-ms", value="100")]


# --- seams for later work ---------------------------------------------------------------------------


def answer(services: Services, row: Any, stream: bool | None) -> p.Run | ServerSentEvent:
    """The run object, or (`stream: true`) the SSE stream of the run's events from its very first one:
    they were committed with the run, so the stream replays them from the log before following live."""
    if stream:
        return run_stream(services, row["id"])
    return p.run_object(row)


def notify_run_queued(services: Services) -> None:
    """Called after a `queued` run (and its first events) committed: publish those events to live
    subscribers and wake the worker. The worker also polls, so a missed wake-up only delays a run."""
    if services.events is not None:
        services.events.poke()
    queue = getattr(services, "run_queue", None)
    if queue is not None:
        queue.notify()


# --- routes -----------------------------------------------------------------------------------------


@post("/v1/threads/runs", status_code=200, response_headers=POLL_AFTER, tags=["runs"],
      opt=openapi.body(p.CreateThreadAndRunRequest))
async def create_thread_and_run(request: Request[Any, Any, Any],
                                services: Services) -> p.Run | ServerSentEvent:
    body = p.decode(p.CreateThreadAndRunRequest, await request.body())
    thread_request = body.thread or p.CreateThreadRequest()
    if body.tool_resources is not None and thread_request.tool_resources is None:
        thread_request = msgspec.structs.replace(thread_request, tool_resources=body.tool_resources)
    async with services.database.write() as session:
        thread = await store.create_thread(session, thread_request)
        row = await store.create_run(session, thread["id"], body, new_thread=thread)
    notify_run_queued(services)
    return answer(services, row, body.stream)


class RunsController(Controller):
    path = "/v1/threads/{thread_id:str}/runs"
    tags = ["runs"]
    response_headers = POLL_AFTER

    @post("/", status_code=200, opt=openapi.body(p.CreateRunRequest))
    async def create_run(self, thread_id: str, request: Request[Any, Any, Any],
                         services: Services) -> p.Run | ServerSentEvent:
        # `include[]` (file_search result content) has nothing to include here and is ignored.
        body = p.decode(p.CreateRunRequest, await request.body())
        async with services.database.write() as session:
            row = await store.create_run(session, thread_id, body)
        notify_run_queued(services)
        return answer(services, row, body.stream)

    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_runs(self, thread_id: str, services: Services, page: PageRequest) -> p.ListResponse[p.Run]:
        async with services.database.read() as session:
            return list_body(await store.list_runs(session, thread_id, page), p.run_object)

    @get("/{run_id:str}")
    async def retrieve_run(self, thread_id: str, run_id: str, services: Services) -> p.Run:
        async with services.database.read() as session:
            return p.run_object(await store.get_run(session, thread_id, run_id))

    @post("/{run_id:str}", status_code=200, opt=openapi.body(p.UpdateRunRequest))
    async def modify_run(self, thread_id: str, run_id: str, request: Request[Any, Any, Any],
                         services: Services) -> p.Run:
        body = p.decode(p.UpdateRunRequest, await request.body())
        async with services.database.write() as session:
            row = await store.update_run(session, thread_id, run_id, body)
        return p.run_object(row)

    @post("/{run_id:str}/submit_tool_outputs", status_code=200)
    async def submit_tool_outputs(self, thread_id: str, run_id: str, request: Request[Any, Any, Any],
                                  services: Services) -> p.Run | ServerSentEvent:
        # Outputs are accepted only in requires_action and only when they answer every pending call;
        # `stream: true` answers with the run's events from this submission on.
        body = p.decode(p.SubmitToolOutputsRequest, await request.body())
        if services.events is None:
            raise InvalidRequest("Tool outputs need the run worker, which this server does not run.",
                                 param="run_id")
        async with services.events.transaction() as tx:
            row, after = await run_tools.submit_tool_outputs(tx.session, thread_id, run_id, body.tool_outputs)
        notify_run_queued(services)
        if body.stream:
            return run_stream(services, run_id, after=after)
        return p.run_object(row)

    @post("/{run_id:str}/cancel", status_code=200)
    async def cancel_run(self, thread_id: str, run_id: str, services: Services) -> p.Run:
        # No body is read: the SDK sends none (with a JSON content type).
        if services.events is None:
            async with services.database.write() as session:
                row = await store.cancel_run(session, thread_id, run_id)
            return p.run_object(row)
        # Through the bus: the `thread.run.cancelling` event is published once it commits. When this
        # process decodes the run, its executor's flag flips before this answers (no token is appended
        # after the cancel returns); another process's worker sees the event within a poll tick.
        async with services.events.transaction() as tx:
            row = await store.cancel_run(tx.session, thread_id, run_id)
        if row["status"] == "cancelling" and services.run_queue is not None:
            services.run_queue.request_cancel(run_id)
        return p.run_object(row)
