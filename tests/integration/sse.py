"""A small SSE reader for tests that need the raw frames (ids, comments) the SDK hides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    event: str | None
    data: str
    id: int | None

    def json(self) -> Any:
        return json.loads(self.data)


def frames(response: httpx.Response) -> Iterator[Frame]:
    event: str | None = None
    data: list[str] = []
    frame_id: int | None = None
    for line in response.iter_lines():
        if line == "":
            if data or event:
                yield Frame(event, "\n".join(data), frame_id)
            event, data, frame_id = None, [], None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                frame_id = int(value)


def read_until_done(client: httpx.Client, url: str, *, headers: dict[str, str] | None = None,
                    params: dict[str, Any] | None = None, limit: int | None = None) -> list[Frame]:
    """GET an SSE route; collect frames until `done` (or `limit` frames)."""
    out: list[Frame] = []
    with client.stream("GET", url, headers=headers or {}, params=params or {}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for frame in frames(response):
            out.append(frame)
            if frame.event == "done" or (limit is not None and len(out) >= limit):
                break
    return out
