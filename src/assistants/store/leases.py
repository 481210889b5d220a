"""Worker identities and the one rule for a dead lease owner, shared by every leased job table (runs,
background responses): which worker holds a row, and when another worker may take it over.

A claimed row carries its worker's id and a `heartbeat_at` that worker refreshes. Its owner is dead
when the heartbeat is older than the timeout, or at once when the owner ran on this host and its
process is gone (no need to wait out the timeout after a local crash and restart).
"""

from __future__ import annotations

import os
import socket

MAX_HEARTBEAT_TICK = 3.0
"""Seconds between a worker's heartbeats at most (and between its backstop polls). Each costs a
transaction: at 1 s they were about a third of an idle server's event-loop CPU, which the decode threads
lose."""


def heartbeat_tick(heartbeat_timeout: float) -> float:
    """How often a lease holder renews: five beats fit in the timeout, so a late beat or two costs
    nothing."""
    return min(MAX_HEARTBEAT_TICK, heartbeat_timeout / 5)


def new_worker_id() -> str:
    """`host:pid:random`: unique, and tells a worker on the same host whether the owner still lives."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def dead_on_this_host(worker_id: str) -> bool:
    """The id names a process on this host that no longer exists."""
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists (another user's) or cannot tell: wait for the heartbeat
    return False


def owner_is_dead(worker_id: str | None, heartbeat_at: float | None, *, me: str, stale_before: float) -> bool:
    """No owner, a heartbeat older than `stale_before`, or (not us) a process gone on this host."""
    return (worker_id is None or heartbeat_at is None or heartbeat_at < stale_before
            or (worker_id != me and dead_on_this_host(worker_id)))
