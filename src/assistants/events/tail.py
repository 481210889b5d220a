"""Publishing: hand the log's tail (every event committed since the last publish) to the fan-out.

Tailing the log, rather than publishing what one transaction wrote, covers every writer in every
process, and keeps publish order == seq order by construction. What wakes it:
* a commit of this process's bus (at once, `catch_up()` right after the commit);
* a commit of another process: on PostgreSQL its `NOTIFY run_events` (LISTEN on a connection of our
  own); on SQLite an inotify watch on the database's files (`store.wal_watch`: the kernel says when
  any process wrote them), and where there is none a poll every `poll_interval` (25 ms) while anyone
  here subscribes. Either way the check is a timer or reader callback that reads the log's high-water
  mark through a side connection (`store.side_reader`, a few µs) and wakes the loop (a session) only
  when the log moved. The watch is what an idle server needs: each of the poll's 40 wake-ups a second
  cost ~0.2 ms of CPU on these VMs, most of the idle event loop's, taken from the decode threads.
A slower poll (`idle_interval`) only moves the high-water mark while nobody subscribes, so the first
subscriber after a quiet spell does not make the tail read everything it skipped; with NOTIFY or a
watch it is also their safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from assistants.errors import DatabaseUnavailable
from assistants.events.fanout import Fanout
from assistants.store import events as log
from assistants.store.side_reader import SideReader
from assistants.store.wal_watch import WalWatch, open_watch

if TYPE_CHECKING:
    from assistants.store import Database

_log = logging.getLogger("assistants.events")
WRITTEN_POLL = 0.25
"""Seconds after the watch saw a write during which the tail polls as if it had none (`_on_write`)."""
_ALL = log.EventFilter()


class LogTail:
    def __init__(self, database: Database, fanout: Fanout, *, poll_interval: float = 0.025,
                 idle_interval: float = 1.0) -> None:
        self._database = database
        self._fanout = fanout
        self.poll_interval = poll_interval
        self.idle_interval = idle_interval
        self._published = 0
        """Highest seq handed to the fan-out; everything at or below it has been published."""
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._ticked = False
        self._listener: Any = None
        self._side = SideReader(database)
        self._watch: WalWatch | None = None
        self._written_until = 0.0
        """Loop time until which the watch's last write keeps the poll at `poll_interval`."""

    @property
    def published(self) -> int:
        return self._published

    async def start(self) -> None:
        async with self._database.read() as session:
            self._published = await log.last_seq(session)
        if sa.make_url(self._database.url).get_backend_name() == "postgresql":
            await self._listen()
        elif self._side.path is not None and (watch := open_watch(self._side.path)) is not None:
            self._watch = watch
            asyncio.get_running_loop().add_reader(watch.fileno(), self._on_write)
        self._task = asyncio.create_task(self._loop(), name="events-tail")

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drop_watch()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        self._side.close()

    def wake(self) -> None:
        """Something was committed (here or elsewhere): publish it soon."""
        self._wake.set()

    async def catch_up(self) -> None:
        """Publish every event committed since the last publish, in seq order."""
        async with self._lock:
            if not self._fanout.has_subscribers:
                joined = self._fanout.joined
                async with self._database.read() as session:
                    mark = await log.last_seq(session)
                # Skipping is safe only if nobody subscribed while the mark was read (see fanout).
                if joined == self._fanout.joined and not self._fanout.has_subscribers:
                    self._published = max(self._published, mark)
                    return
            while True:
                async with self._database.read() as session:
                    page = await log.read_after(session, _ALL, self._published)
                if page:
                    self._published = page[-1].seq
                    self._fanout.publish(page)
                if len(page) < log.PAGE_SIZE:
                    return

    def _interval(self) -> float:
        if self._watch is not None and asyncio.get_running_loop().time() >= self._written_until:
            return self.idle_interval  # the watch wakes us; the poll is only a safety net
        if self._listener is not None and not self._listener.is_closed():
            return self.idle_interval  # NOTIFY wakes us; the poll is only a safety net
        # SQLite with no watch, or the LISTEN connection lost (server restart, pg_terminate_backend).
        return self.poll_interval if self._fanout.has_subscribers else self.idle_interval

    def _log_moved(self) -> bool:
        """Whether a catch-up may find something: the side read of the high-water mark, or True when
        there is no side reader or it failed (the loop's own read, a session, then reports the error)."""
        try:
            return not self._side.available or log.last_seq_side(self._side) > self._published
        except Exception:
            return True

    def _tick(self) -> None:
        """A poll tick, run as a plain timer callback: it wakes the loop only when the log moved. A
        quiet tick is one timer and one side read: no task switch, no timeout object."""
        self._timer = None
        if self._wake.is_set():
            return
        if not self._log_moved():
            self._arm()
            return
        self._ticked = True
        self._wake.set()

    def _on_write(self) -> None:
        """The watch saw the database's files written, by any process (ours included: its commits
        also wake the tail directly, and then the log has not moved past what was published).

        A write is not yet a commit a reader sees: the writer makes its frames visible through the
        `-shm` index, a memory map that raises no event, a moment after its last write. So for
        `WRITTEN_POLL` seconds after a write the tail polls at `poll_interval` as if it had no watch
        (measured before this: 1 of 10 cross-process pickups waited 100 ms for the next wake-up)."""
        assert self._watch is not None
        try:
            written = self._watch.drain()
        except Exception:
            _log.exception("the database watch failed; polling the event log instead")
            self._drop_watch()
            written = True
        if not written or self._wake.is_set():
            return
        if self._log_moved():
            self._wake.set()
            return
        self._written_until = asyncio.get_running_loop().time() + WRITTEN_POLL
        if self._timer is not None:  # armed for the safety net's second, perhaps: poll from now
            self._timer.cancel()
            self._arm()

    def _drop_watch(self) -> None:
        if self._watch is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._watch.fileno())
            self._watch.close()
            self._watch = None

    def _arm(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._interval(), self._tick)

    async def _loop(self) -> None:
        while True:
            if self._timer is None:
                self._arm()
            await self._wake.wait()
            ticked, self._ticked = self._ticked, False
            self._wake.clear()
            if self._timer is not None and not ticked:
                self._timer.cancel()  # woken by a commit: the next poll counts from now
                self._timer = None
            try:
                if self._listener is not None and self._listener.is_closed():
                    # Until LISTEN is back the loop polls at poll_interval; the catch-up covers the gap.
                    await self._listen()
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except (OSError, DatabaseUnavailable) as exc:  # an outage: one line per retry, no traceback
                _log.warning("reading the event log failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
            except Exception:
                _log.exception("reading the event log failed; retrying")
                await asyncio.sleep(0.5)

    async def _listen(self) -> None:
        """LISTEN run_events on a dedicated asyncpg connection (any notification wakes the tail)."""
        try:
            import asyncpg
        except ImportError:  # another driver: the poll still delivers, just later
            _log.warning("asyncpg is not installed: cross-process events are polled every %.0f ms",
                         self.poll_interval * 1000)
            return
        url = sa.make_url(self._database.url).set(drivername="postgresql")
        listener = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
        await listener.add_listener(log.NOTIFY_CHANNEL, lambda *_: self._wake.set())
        listener.add_termination_listener(lambda _: self._wake.set())
        if self._listener is not None:
            _log.info("LISTEN %s: reconnected", log.NOTIFY_CHANNEL)
        self._listener = listener
