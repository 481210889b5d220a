"""Pruning the event logs: the per-token deltas of runs and background responses that ended long ago.

Both logs keep every delta, so a stream re-attached while or soon after it ran replays exactly. A
long-lived server would keep them for ever: one row per decoded piece, hundreds per answer, for as
long as the thread or response lives. So once a run or background response is finished and was
created more than the retention ago, its deltas (`thread.message.delta`, `thread.run.step.delta`;
`response.*.delta`) are deleted and it is marked `deltas_pruned`. Its lifecycle events stay: a late
replay still shows every step and whole message (`thread.message.completed`, `response.completed`
carry the text), and the messages and outputs themselves are untouched.

Any number of processes may prune at once: candidates are taken with SKIP LOCKED on PostgreSQL (one
writer at a time on SQLite), a delete is idempotent, and the mark only goes from false to true.
Deleting rows never reorders the log (a follower reads `seq > after`; seqs are never reused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.protocol.responses import TERMINAL_STATUSES as RESPONSE_TERMINAL
from assistants.protocol.run_status import TERMINAL as RUN_TERMINAL
from assistants.store.events import DELTA_EVENTS
from assistants.store.models import response_events, responses, run_events, runs

BATCH = 10
"""Runs (or responses) per transaction. A deleted row costs ~2 µs on SQLite (`benchmarks/pruning.py`:
50 runs of 300 deltas held the write lock 36 ms, of 2,000 deltas 198 ms, against 2.2 ms for an
event flush), so 10 keeps a batch of long answers near 40 ms: a stream stalls one flush or two."""


async def prune_run_deltas(session: AsyncSession, *, created_before: int, limit: int = BATCH) -> int:
    """Delete the deltas of up to `limit` finished runs created before `created_before` (unix
    seconds) that still have them; how many runs were pruned."""
    return await _prune(session, runs, limit, (runs.c.status.in_(sorted(RUN_TERMINAL)),
                                               runs.c.created_at < created_before),
                        lambda ids: run_events.c.run_id.in_(ids) & run_events.c.event.in_(DELTA_EVENTS),
                        run_events)


async def prune_response_deltas(session: AsyncSession, *, created_before: int, limit: int = BATCH) -> int:
    """As `prune_run_deltas`, for finished background responses' `response_events`."""
    return await _prune(session, responses, limit, (
        responses.c.background == sa.true(), responses.c.status.in_(sorted(RESPONSE_TERMINAL)),
        responses.c.created_at < created_before),
        lambda ids: response_events.c.response_id.in_(ids) & response_events.c.type.like("%.delta"),
        response_events)


async def _prune(session: AsyncSession, owners: sa.Table, limit: int, over: tuple[Any, ...],
                 deltas_of: Callable[[list[str]], Any], log: sa.Table) -> int:
    """Take up to `limit` unpruned rows of `owners` matching `over`, delete their deltas from `log`
    and mark them; how many were taken."""
    ids = list((await session.execute(
        sa.select(owners.c.id).where(owners.c.deltas_pruned == sa.false(), *over)
        .limit(limit).with_for_update(skip_locked=True))).scalars())
    if ids:
        await session.execute(sa.delete(log).where(deltas_of(ids)))
        await session.execute(sa.update(owners).where(owners.c.id.in_(ids)).values(deltas_pruned=True))
    return len(ids)
