"""A run's cancel flag: the fast path from a cancel to its executor in the same process."""

from __future__ import annotations

from collections.abc import Callable


class CancelFlag:
    """Set by the cancel route; the executor checks it before appending each piece."""

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
