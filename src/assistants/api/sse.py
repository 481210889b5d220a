"""SSE bodies written as prebuilt bytes: several events per socket write where they are ready together.

litestar's `ServerSentEvent` builds and encodes a message object per yielded item, sends one ASGI
message (one socket write) each, and starts every stream with a hop through the thread pool. The
streams here yield `Frames` (events already encoded) or go through `stream` (no thread hop).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from litestar.response import Stream
from litestar.response.sse import ServerSentEventMessage

SSE_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
"""What litestar's ServerSentEvent sends (proxies must not buffer an event stream)."""


class Frames(ServerSentEventMessage):
    """Several events encoded together: one write to the socket for all of them (a run stream's
    batch of published events; per-event writes were most of a streaming run's CPU on the loop)."""

    def __init__(self, wire: bytes) -> None:
        super().__init__()
        self.wire = wire

    def encode(self) -> bytes:
        return self.wire


def stream(body: AsyncIterator[bytes]) -> Stream:
    """An event-stream response of already encoded events (litestar's SSE headers, no per-item work)."""
    return Stream(body, media_type="text/event-stream", headers=SSE_HEADERS)


async def data_events(lines: AsyncGenerator[str, None],
                      more_ready: Callable[[], bool]) -> AsyncGenerator[bytes, None]:
    """Each line as a `data:` event; lines that come while `more_ready()` says the next one is
    already waiting (queued text, or a stream's closing lines) go out in the same write: when the
    event loop falls behind the engine it catches up in fewer writes, never later. The lines are JSON
    or `[DONE]`, never a line break, so one `data:` line each (as litestar would frame them)."""
    wire: list[bytes] = []
    async with contextlib.aclosing(lines):
        async for line in lines:
            wire.append(b"data: %s\r\n\r\n" % line.encode())
            if not more_ready():
                yield b"".join(wire)
                wire.clear()
    if wire:
        yield b"".join(wire)
