"""Wake-ups from other processes through the event log, which every process follows: a job kind
announces there the rows it queues and the cancels it is asked for (runs: `thread.run.queued` /
`thread.run.cancelling`; background responses: `response.queued` / `response.cancelling`), and its
`watch` hands them to this process's worker, which claims at once or flips the job's cancel flag.
(The poll and the heartbeat stay the backstop for an announcement missed.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistants.events import Event, EventFilter

if TYPE_CHECKING:
    from assistants.events import EventBus
    from assistants.jobs.worker import Worker

log = logging.getLogger("assistants.jobs.announcements")

_LIFECYCLE = EventFilter(include_deltas=False)


async def follow_announcements(bus: EventBus, worker: Worker, *, queued: str, cancelling: str,
                               job_id: Callable[[Event], str | None]) -> None:
    """Until cancelled: `queued` events wake the worker, `cancelling` ones request that job's cancel."""
    after = bus.tail.published
    while True:
        try:
            async for batch in bus.follow_batches(_LIFECYCLE, after):
                for event in batch:
                    after = event.seq
                    if event.event == queued and not worker.holds(job_id(event) or ""):
                        # (One we hold was queued here and claimed already: a claim would find nothing.)
                        worker.notify()
                    elif event.event == cancelling and (cancelled := job_id(event)) is not None:
                        worker.request_cancel(cancelled)
            return  # the bus closed
        except asyncio.CancelledError:
            raise
        except Exception:  # the log could not be read (an outage): the poll covers the gap meanwhile
            log.exception("following the event log for %s failed; following again", queued)
            await asyncio.sleep(1.0)
