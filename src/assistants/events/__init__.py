"""Run events: persisted to the log (`store.events`), then published to live subscribers in every
process that shares the database.

* `writer`: the write-behind buffer (`emit`, `stage`) and `transaction()`, whose events commit with it.
* `tail`: publishes the log's tail, woken by a local commit, a poll tick or PostgreSQL's NOTIFY.
* `fanout`: subscribers, and the replay -> live handover of `follow_batches`.
* `bus`: the `EventBus` that owns the three.
"""

from assistants.events.bus import EventBus
from assistants.events.fanout import run_stream_stop
from assistants.events.writer import Transaction
from assistants.protocol.events import DELTA_EVENTS, PAUSE_RUN_EVENTS, TERMINAL_RUN_EVENTS
from assistants.store.events import Event, EventFilter, PendingEvent, pending

__all__ = ["DELTA_EVENTS", "PAUSE_RUN_EVENTS", "TERMINAL_RUN_EVENTS", "Event", "EventBus", "EventFilter",
           "PendingEvent", "Transaction", "pending", "run_stream_stop"]
