"""`DeltaPruner`: every so often, delete the deltas of runs and background responses that are over
and were created more than `--delta-retention` ago (the SQL and its reasons are `store.pruning`'s).

One runs beside each worker (`serve`, `assistants worker`); several at once are safe. A pass takes
small batches, one transaction each, so it never holds the write lock for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from assistants.errors import DatabaseUnavailable
from assistants.store import pruning

if TYPE_CHECKING:
    from assistants.store import Database

_log = logging.getLogger("assistants.events")
MAX_INTERVAL = 600.0
"""Seconds between passes at most: a day-long retention does not need a tighter schedule."""


class DeltaPruner:
    def __init__(self, database: Database, *, retention: float) -> None:
        self._database = database
        self.retention = retention
        """Seconds after a run's (or response's) creation before its deltas may go; it must be over."""
        self.interval = min(MAX_INTERVAL, max(retention / 2, 0.5))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="delta-pruner")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def prune_once(self) -> tuple[int, int]:
        """One pass, batch after batch until nothing is left: (runs, responses) pruned."""
        created_before = int(time.time() - self.retention)
        totals = [0, 0]
        for index, prune in enumerate((pruning.prune_run_deltas, pruning.prune_response_deltas)):
            while True:
                async with self._database.write() as session:
                    pruned = await prune(session, created_before=created_before, limit=pruning.BATCH)
                totals[index] += pruned
                if pruned < pruning.BATCH:
                    break
        return totals[0], totals[1]

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                runs, responses = await self.prune_once()
            except asyncio.CancelledError:
                raise
            except (OSError, DatabaseUnavailable) as exc:  # an outage: one line, as the tail logs it
                _log.warning("pruning old deltas failed (%s); trying again in %.0f s", exc, self.interval)
                continue
            except Exception:
                _log.exception("pruning old deltas failed; trying again in %.0f s", self.interval)
                continue
            if runs or responses:
                _log.info("pruned the deltas of %d runs and %d background responses", runs, responses)
