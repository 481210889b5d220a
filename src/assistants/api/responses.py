"""/v1/responses: create (plain, `stream`, `background`), retrieve (and resume a background stream),
delete, cancel, input_items, input_tokens.

A foreground response goes request -> prompt -> batcher like a chat completion and is stored when
it ends; a background one is a `queued` row the worker decodes (see assistants.responses.background),
its events logged so `GET ?stream=true` replays them from `response.created` or from `starting_after`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.response import ServerSentEvent

from assistants import openapi
from assistants.api.chat import wait_disconnected as disconnected  # the chat routes' hang-up watch
from assistants.api.events import KeepAlive
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest
from assistants.api.sse import SSE_HEADERS, Frames
from assistants.errors import ClientDisconnected, InvalidRequest, ServiceUnavailable
from assistants.protocol import decode
from assistants.protocol.codec import encoder
from assistants.protocol.conversations import ItemList
from assistants.protocol.responses import (
    CreateResponseRequest,
    InputTokens,
    ResponseDeleted,
    response_object,
)
from assistants.protocol.responses import Response as ResponseObject
from assistants.responses import background
from assistants.responses import service as responses
from assistants.responses.events import Event, ResponseEvents
from assistants.services import Services
from assistants.store import responses as response_store

log = logging.getLogger("assistants.api.responses")



def frames(events: list[tuple[str, bytes]]) -> Frames:
    """Several events as one socket write: `event:` + one compact JSON `data:` line each."""
    return Frames(b"".join(b"event: %s\r\ndata: %s\r\n\r\n" % (kind.encode(), data) for kind, data in events))


def encode_events(events: list[Event]) -> Frames:
    return frames([(event["type"], encoder.encode(event)) for event in events])


def background_stream(services: Services, response_id: str, after: int) -> ServerSentEvent:
    """A background response's logged events after `after` (-1: all), then live ones until its end."""
    async def body() -> AsyncIterator[Frames | KeepAlive]:
        async for batch in background.follow(services, response_id, after):
            yield frames(batch) if batch else KeepAlive()

    return ServerSentEvent(body(), headers=SSE_HEADERS)


def _model(services: Services, model: str | None) -> Any:
    """The request's model, leased while the block queues its generation (404 for an unknown id)."""
    if services.models is None:
        raise ServiceUnavailable("This server runs without a model (--no-model).")
    return services.models.use(model)


class ResponsesController(Controller):
    path = "/v1/responses"
    tags = ["responses"]

    @post("/", status_code=200, opt=openapi.body(CreateResponseRequest))
    async def create_response(self, request: Request[Any, Any, Any],
                              services: Services) -> ResponseObject | ServerSentEvent:
        body = decode(CreateResponseRequest, await request.body())
        async with _model(services, body.model) as inference:
            # A background response searches when its worker prepares it, so the create answers at once.
            prepared = await responses.prepare(inference, services.database, body,
                                               retrieval=None if body.background else services.retrieval)
            if body.background:
                row = await background.enqueue(services, prepared)
                if body.stream:
                    return background_stream(services, row["id"], after=-1)
                return response_object(row)
            generation = await responses.start_generation(inference, prepared)
        if body.stream:
            return ServerSentEvent(_stream(services, prepared, generation), headers=SSE_HEADERS)
        events = ResponseEvents(prepared.snapshot())
        await _drain(responses.run_foreground(services.database, prepared, generation, events), request)
        return response_object(prepared.values)

    @post("/input_tokens", status_code=200, opt=openapi.body(CreateResponseRequest))
    async def count_input_tokens(self, request: Request[Any, Any, Any], services: Services) -> InputTokens:
        body = decode(CreateResponseRequest, await request.body())
        async with _model(services, body.model) as inference:
            # With the file_search excerpts a create would put into the prompt (the same search).
            prepared = await responses.prepare(inference, services.database, body,
                                               retrieval=services.retrieval)
        return InputTokens(prepared.prompt.tokens)

    @get("/{response_id:str}")
    async def retrieve_response(self, response_id: str, services: Services, stream: bool = False,
                                starting_after: int | None = None,
                                include: list[str] | None = None,
                                include_obfuscation: bool | None = None) -> ResponseObject | ServerSentEvent:
        async with services.database.read() as session:
            row = await response_store.get_response(session, response_id)
        if stream:
            if not row["background"]:
                raise InvalidRequest("Only background responses can be streamed again.", param="stream")
            if starting_after is not None and starting_after < 0:
                raise InvalidRequest("'starting_after' must not be negative.", param="starting_after")
            return background_stream(services, response_id, -1 if starting_after is None else starting_after)
        if starting_after is not None:
            raise InvalidRequest("'starting_after' needs 'stream=true'.", param="starting_after")
        return response_object(row)

    @delete("/{response_id:str}", status_code=200)
    async def delete_response(self, response_id: str, services: Services) -> ResponseDeleted:
        async with services.database.write() as session:
            await response_store.delete_response(session, response_id)
        background.forget(services, response_id)
        return ResponseDeleted(response_id)

    @post("/{response_id:str}/cancel", status_code=200)
    async def cancel_response(self, response_id: str, services: Services) -> ResponseObject:
        return response_object(await background.cancel(services, response_id))

    @get("/{response_id:str}/input_items", dependencies=PAGE_DEPENDENCY)
    async def list_input_items(self, response_id: str, services: Services, page: PageRequest,
                               include: list[str] | None = None) -> ItemList:
        async with services.database.read() as session:
            result = await response_store.list_input_items(session, response_id, page)
        return ItemList.of([row["item"] for row in result.rows], result.has_more)


async def _drain(steps: AsyncIterator[None], request: Request[Any, Any, Any]) -> None:
    """Run a foreground response to its end; a client that hangs up meanwhile stops its decoding
    (and nothing is stored), as a chat completion's does."""
    async def run() -> None:
        async for _ in steps:
            pass

    task = asyncio.ensure_future(run())
    gone = asyncio.ensure_future(disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not task.done():
        task.cancel()
        raise ClientDisconnected("The client closed the connection.")
    task.result()


async def _stream(services: Services, prepared: responses.Prepared, generation: Any) -> AsyncIterator[Frames]:
    """A foreground stream: events go out as they are built (they are not logged: such a stream
    cannot be resumed, as with OpenAI); the row commits before the terminal event is sent."""
    buffer: list[Event] = []
    events = ResponseEvents(prepared.snapshot(), buffer.append)
    events.created()
    events.in_progress()
    try:
        async for _ in responses.run_foreground(services.database, prepared, generation, events, "stream"):
            if buffer:
                frames, buffer[:] = encode_events(buffer), []
                yield frames
    except Exception as exc:
        log.exception("response %s failed mid-stream", prepared.values["id"])
        yield encode_events([{"type": "error", "sequence_number": events.sequence, "code": "server_error",
                              "message": f"The server had an error while streaming: {exc}", "param": None}])
        return
    if buffer:
        yield encode_events(buffer)
