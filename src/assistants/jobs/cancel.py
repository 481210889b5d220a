"""A job's cancel flag: the fast path from a cancel (or a lost lease) to the code decoding it, in the
same process (a cancel written by another process reaches it through the worker's heartbeat)."""

from __future__ import annotations

from collections.abc import Callable


class CancelFlag:
    """Set by the cancel route or the worker; the decoder checks it before appending each piece, and
    `on_set` callbacks stop the engine at once (e.g. while the prompt still waits for a slot)."""

    def __init__(self) -> None:
        self._set = False
        self._on_set: list[Callable[[], None]] = []

    def set(self) -> None:
        if not self._set:
            self._set = True
            for callback in self._on_set:
                callback()

    def is_set(self) -> bool:
        return self._set

    def on_set(self, callback: Callable[[], None]) -> None:
        self._on_set.append(callback)
        if self._set:
            callback()
