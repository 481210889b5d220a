"""Server-sent run events: the `stream=true` answer of runs.create / threads.create_and_run, the run
re-attach route, and the all-runs feed. Every frame comes from the persisted log (replay) or the live
bus, with `id:` = the event's seq, so `Last-Event-ID` resumes without gaps or duplicates.

Routes:
* `GET /v1/threads/{thread_id}/runs/{run_id}/events` (`Last-Event-ID` header or `?after=`): what the
  caller missed, then live events until the run ends, then `done`.
* `GET /v1/events?thread_id=&assistant_id=&include_deltas=&after=`: lifecycle events of every run
  (deltas only with `include_deltas=true`); never ends on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

from assistants import metrics, store
from assistants.api.sse import SSE_HEADERS, Frames
from assistants.errors import InvalidRequest
from assistants.events import Event, EventBus, EventFilter, run_stream_stop
from assistants.protocol.codec import encoder
from assistants.protocol.events import RunEventName, StreamError, StreamErrorBody
from assistants.protocol.run_status import TERMINAL
from assistants.store import Database

KEEPALIVE_SECONDS = 15.0


class KeepAlive(ServerSentEventMessage):
    """A bare comment line, NOT followed by a blank line.

    A comment plus a blank line is an empty event to a client that saw an `id:` before: per the SSE
    spec the last event id persists, so the openai SDK's decoder dispatches `data: ""` and then fails to
    parse it as JSON. A lone comment line keeps the connection busy and dispatches nothing.
    """

    def encode(self) -> bytes:
        return b": keepalive\r\n"


def _error_frame(run_event: Event) -> ServerSentEventMessage:
    """`event: error` after `thread.run.failed`, in the wrapped form the SDK's helpers raise on."""
    run = msgspec.json.decode(run_event.data)
    last_error = run.get("last_error") or {}
    error = StreamError(StreamErrorBody(message=last_error.get("message") or "The run failed.",
                                        type="server_error", param=None,
                                        code=last_error.get("code") or "server_error"))
    return ServerSentEventMessage(event="error", data=encoder.encode(error).decode())


def encode_event(event: Event) -> bytes:
    """`id:`, `event:` and `data:` lines; the log's data is compact JSON, so one data line."""
    if b"\n" in event.data or b"\r" in event.data:
        return ServerSentEventMessage(data=event.data.decode(), event=event.event, id=event.seq).encode()
    return b"id: %d\r\nevent: %s\r\ndata: %s\r\n\r\n" % (event.seq, event.event.encode(), event.data)


DONE_FRAME = ServerSentEventMessage(event="done", data="[DONE]").encode()


async def sse_frames(bus: EventBus, flt: EventFilter, after: int, *, stop: Callable[[Event], bool] | None,
                     keepalive: float = KEEPALIVE_SECONDS,
                     finished: bool = False) -> AsyncIterator[ServerSentEventMessage]:
    """Frames for one subscriber, a batch of events per frame. Ends with `done` after a `stop` event
    (run streams), and, when what is followed is `finished`, with `done` once the log is read: a
    client resuming after the last event gets `done` at once, not keepalives forever."""
    with metrics.sse_subscriber():  # counted down however the stream ends (done, disconnect, shutdown)
        async for batch in bus.follow_batches(flt, after, keepalive=keepalive, stop=stop,
                                              replay_only=finished):
            if not batch:
                yield KeepAlive()
                continue
            wire = []
            stopped = False
            for event in batch:
                wire.append(encode_event(event))
                if event.event == RunEventName.RUN_FAILED and stop is not None:
                    wire.append(_error_frame(event).encode())
                if stop is not None and stop(event):
                    wire.append(DONE_FRAME)
                    stopped = True
            yield Frames(b"".join(wire))  # everything one flush published: one write (see api.sse)
            if stopped:
                return  # the batch holding the stop event is the last
        if finished:
            yield Frames(DONE_FRAME)  # resumed at or past the stop event: nothing left but the end


def run_stream(bus: EventBus, run_id: str, *, after: int = 0, pause_on_requires_action: bool = True,
               finished: bool = False) -> ServerSentEvent:
    """The SSE answer for one run: replay from `after` (0: its first event), then live, then `done`.
    `finished`: the run was seen in a terminal status, so its log is complete (replay only)."""
    # A run's terminal status and its terminal event commit in one transaction, so following the log
    # until that event can neither stop early nor wait forever, and a run seen terminal has it logged.
    frames = sse_frames(bus, EventFilter(run_id=run_id), after,
                        stop=run_stream_stop(pause_on_requires_action=pause_on_requires_action),
                        finished=finished)
    return ServerSentEvent(frames, headers=SSE_HEADERS)


def _resume_point(request: Request[Any, Any, Any], after: int | None) -> int:
    header = request.headers.get("last-event-id")
    points = [after or 0]
    if header:
        try:
            points.append(int(header.strip()))
        except ValueError:
            raise InvalidRequest("Last-Event-ID must be an integer event id.",
                                 param="Last-Event-ID") from None
    point = max(points)
    if point < 0:
        raise InvalidRequest("'after' must be a non-negative event id.", param="after")
    return point


@get("/v1/threads/{thread_id:str}/runs/{run_id:str}/events", tags=["runs"])
async def run_events(thread_id: FromPath[str], run_id: FromPath[str],
                     request: Request[Any, Any, Any], database: NamedDependency[Database],
                     bus: NamedDependency[EventBus],
                     after: FromQuery[int | None] = None) -> ServerSentEvent:
    point = _resume_point(request, after)
    async with database.read() as session:
        row = await store.get_run(session, thread_id, run_id)  # 404 for an unknown run / wrong thread
    return run_stream(bus, run_id, after=point, pause_on_requires_action=False,
                      finished=row["status"] in TERMINAL)


@get("/v1/events", tags=["runs"])
async def all_events(request: Request[Any, Any, Any], bus: NamedDependency[EventBus],
                     thread_id: FromQuery[str | None] = None, assistant_id: FromQuery[str | None] = None,
                     include_deltas: FromQuery[bool] = False,
                     after: FromQuery[int | None] = None) -> ServerSentEvent:
    point = _resume_point(request, after)
    flt = EventFilter(thread_id=thread_id, assistant_id=assistant_id, include_deltas=include_deltas)
    return ServerSentEvent(sse_frames(bus, flt, point, stop=None), headers=SSE_HEADERS)


ROUTES = [run_events, all_events]
