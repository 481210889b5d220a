"""SSE frames of a run stream: `id:` per logged event, `error` after `thread.run.failed`, `done` last,
read back from the wire with the openai SDK's own decoder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openai._streaming import ServerSentEvent, SSEDecoder

from assistants.api.events import sse_frames
from assistants.events import EventBus, EventFilter, run_stream_stop
from tests.unit.test_events import open_log


async def wire_events(bus: EventBus, flt: EventFilter,
                      **kwargs: object) -> tuple[list[ServerSentEvent], list[bytes]]:
    """The events a client decodes, and the writes (one per frame) that carried them."""
    writes = [frame.encode() async for frame in sse_frames(bus, flt, 0, **kwargs)]  # type: ignore[arg-type]
    return list(SSEDecoder().iter_bytes(iter(writes))), writes


@pytest.fixture()
async def bus(tmp_path: Path) -> AsyncIterator[EventBus]:
    db = await open_log(tmp_path / "events.db")
    bus = EventBus(db, flush_interval=0.005)
    await bus.start()
    yield bus
    await bus.close()
    await db.close()


async def test_failed_run_stream_ends_with_error_then_done(bus: EventBus) -> None:
    ids = {"run_id": "run_1", "thread_id": "thread_1"}
    bus.emit("thread.run.in_progress", {"id": "run_1", "status": "in_progress"}, **ids)
    bus.emit("thread.run.failed", {"id": "run_1", "status": "failed",
                                   "last_error": {"code": "server_error", "message": "decode failed"}}, **ids)
    await bus.flush()
    events, writes = await wire_events(bus, EventFilter(run_id="run_1"),
                                     stop=run_stream_stop(pause_on_requires_action=True))
    assert [e.event for e in events] == ["thread.run.in_progress", "thread.run.failed", "error", "done"]
    assert events[0].id and int(events[1].id) > int(events[0].id)  # type: ignore[arg-type]
    assert events[2].data == ('{"error":{"message":"decode failed","type":"server_error","param":null,'
                              '"code":"server_error"}}')
    assert events[3].data == "[DONE]"
    (wire,) = writes  # all four went out in one write (they were committed before the stream began)
    assert f"id: {events[1].id}\r\nevent: thread.run.failed\r\ndata: {{".encode() in wire


async def test_requires_action_pauses_a_create_stream_but_not_a_reattach(bus: EventBus) -> None:
    ids = {"run_id": "run_2", "thread_id": "thread_1"}
    bus.emit("thread.run.requires_action", {"id": "run_2"}, **ids)
    bus.emit("thread.run.queued", {"id": "run_2"}, **ids)
    bus.emit("thread.run.completed", {"id": "run_2"}, **ids)
    await bus.flush()
    paused, _ = await wire_events(bus, EventFilter(run_id="run_2"),
                                  stop=run_stream_stop(pause_on_requires_action=True))
    assert [e.event for e in paused] == ["thread.run.requires_action", "done"]
    full, _ = await wire_events(bus, EventFilter(run_id="run_2"),
                                stop=run_stream_stop(pause_on_requires_action=False))
    assert [e.event for e in full] == ["thread.run.requires_action", "thread.run.queued",
                                       "thread.run.completed", "done"]


async def test_keepalives_are_invisible_to_the_sdk_decoder(bus: EventBus) -> None:
    """The SDK remembers the last `id:`; a comment + blank line would be an empty event to it."""
    ids = {"run_id": "run_3", "thread_id": "thread_1"}
    bus.emit("thread.run.queued", {"id": "run_3"}, **ids)
    await bus.flush()
    wire = b""
    async for frame in sse_frames(bus, EventFilter(run_id="run_3"), 0, stop=None, keepalive=0.01):
        wire += frame.encode()
        if wire.count(b"keepalive") == 2:
            break
    bus.emit("thread.run.in_progress", {"id": "run_3"}, **ids)
    await bus.flush()
    async for frame in sse_frames(bus, EventFilter(run_id="run_3"), 1, stop=None, keepalive=0.01):
        wire += frame.encode()
        break
    events = list(SSEDecoder().iter_bytes(iter([wire])))
    assert [(e.event, e.json()["id"]) for e in events] == [("thread.run.queued", "run_3"),
                                                           ("thread.run.in_progress", "run_3")]
