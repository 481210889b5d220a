"""SSE frames of a run stream: `id:` per logged event, `error` after `thread.run.failed`, `done` last."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from assistants.api.events import sse_frames
from assistants.events import EventBus, EventFilter, run_stream_stop
from tests.unit.test_events import FileDatabase


@pytest.fixture()
async def bus(tmp_path: Path) -> AsyncIterator[EventBus]:
    db = FileDatabase(tmp_path / "events.db")
    await db.setup()
    bus = EventBus(db, flush_interval=0.005)
    await bus.start()
    yield bus
    await bus.close()
    await db.engine.dispose()


async def test_failed_run_stream_ends_with_error_then_done(bus: EventBus) -> None:
    ids = {"run_id": "run_1", "thread_id": "thread_1"}
    bus.emit("thread.run.in_progress", {"id": "run_1", "status": "in_progress"}, **ids)
    bus.emit("thread.run.failed", {"id": "run_1", "status": "failed",
                                   "last_error": {"code": "server_error", "message": "decode failed"}}, **ids)
    await bus.flush()
    frames = [f async for f in sse_frames(bus, EventFilter(run_id="run_1"), 0,
                                          stop=run_stream_stop(pause_on_requires_action=True))]
    assert [f.event for f in frames] == ["thread.run.in_progress", "thread.run.failed", "error", "done"]
    assert frames[0].id is not None and frames[1].id > frames[0].id and frames[2].id is None
    assert frames[2].data == ('{"error":{"message":"decode failed","type":"server_error","param":null,'
                              '"code":"server_error"}}')
    assert frames[3].data == "[DONE]"
    encoded = frames[1].encode().decode()
    assert encoded.startswith(f"id: {frames[1].id}\r\nevent: thread.run.failed\r\ndata: {{")


async def test_requires_action_pauses_a_create_stream_but_not_a_reattach(bus: EventBus) -> None:
    ids = {"run_id": "run_2", "thread_id": "thread_1"}
    bus.emit("thread.run.requires_action", {"id": "run_2"}, **ids)
    bus.emit("thread.run.queued", {"id": "run_2"}, **ids)
    bus.emit("thread.run.completed", {"id": "run_2"}, **ids)
    await bus.flush()
    paused = [f.event async for f in sse_frames(bus, EventFilter(run_id="run_2"), 0,
                                                stop=run_stream_stop(pause_on_requires_action=True))]
    assert paused == ["thread.run.requires_action", "done"]
    full = [f.event async for f in sse_frames(bus, EventFilter(run_id="run_2"), 0,
                                              stop=run_stream_stop(pause_on_requires_action=False))]
    assert full == ["thread.run.requires_action", "thread.run.queued", "thread.run.completed", "done"]


async def test_keepalives_are_invisible_to_the_sdk_decoder(bus: EventBus) -> None:
    """The SDK remembers the last `id:`; a comment + blank line would be an empty event to it."""
    from openai._streaming import SSEDecoder

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
