"""Turning sampled tokens into output text: UTF-8 safe across token boundaries, stop strings trimmed."""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TokenTextDecoder:
    """Token pieces (bytes) in, text out. A character split over two tokens comes out whole, once."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, piece: bytes) -> str:
        return self._decoder.decode(piece)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


class StopMatcher:
    """Finds stop strings in streamed text, holding back only what could still start one.

    `feed` returns the text safe to emit now; after a match `stopped` is true and the stop string and
    everything after it are dropped. `flush` returns what was held back when generation ends otherwise.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False
        self.matched: str | None = None
        """The stop string that ended the text (the earliest one in it), once `stopped`."""

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        if not self._stops:
            return text
        buffer = self._held + text
        first = -1
        for stop in self._stops:
            index = buffer.find(stop)
            if index != -1 and (first == -1 or index < first):
                first, self.matched = index, stop
        if first != -1:
            self.stopped = True
            self._held = ""
            return buffer[:first]
        keep = self._longest_partial(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _longest_partial(self, buffer: str) -> int:
        """Length of the longest suffix of `buffer` that is a proper prefix of some stop string."""
        best = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), best, -1):
                if buffer.endswith(stop[:size]):
                    best = size
                    break
        return best
