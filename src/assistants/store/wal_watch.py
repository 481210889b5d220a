"""Told by the kernel when any process commits to a SQLite database: inotify on its directory, for the
database file and its write-ahead log (a commit in WAL mode writes the `-wal` file; a checkpoint the
database file).

Why not only poll: on these VMs a thread's every timer wake-up costs ~0.2 ms of CPU (a bare asyncio
loop ticking every 25 ms spent 225 µs of thread time per tick, around a 4 µs read), so the event tail's
40 polls a second were most of an idle server's event-loop CPU, taken from the decode threads. With a
watch the tail wakes only when something was written. Linux only (`inotify_simple`); elsewhere, or when
the watch cannot be set up (no inotify instances left), `open_watch` returns None and callers poll.
Writes through a memory map (the `-shm` index) raise no event, and neither do files in subdirectories.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("assistants.store")


class WalWatch:
    """Owned by whoever reads it: `fileno()` for the event loop's `add_reader`, `drain()` when it is
    readable, `close()` at the end."""

    def __init__(self, notifier: Any, names: frozenset[str]) -> None:
        self._notifier = notifier
        self._names = names

    def fileno(self) -> int:
        return int(self._notifier.fileno())

    def drain(self) -> bool:
        """Read every pending event; True when one was about the database or its log (not, say, a log
        file written beside it in the same directory)."""
        events = self._notifier.read(timeout=0)
        return any(event.name in self._names for event in events)

    def close(self) -> None:
        self._notifier.close()


def open_watch(database_path: str | Path) -> WalWatch | None:
    try:
        from inotify_simple import INotify, flags  # type: ignore[import-untyped]  # no stubs
    except (ImportError, OSError):  # not Linux: the caller polls
        return None
    path = Path(database_path).resolve()
    notifier = None
    try:
        notifier = INotify(nonblocking=True)
        notifier.add_watch(path.parent, flags.MODIFY | flags.CREATE | flags.MOVED_TO | flags.CLOSE_WRITE)
    except OSError as exc:  # no inotify instance or watch left, or the directory is gone
        if notifier is not None:
            notifier.close()
        log.warning("no inotify watch on %s (%s): the event log is polled", path.name, exc)
        return None
    return WalWatch(notifier, frozenset({path.name, path.name + "-wal"}))
