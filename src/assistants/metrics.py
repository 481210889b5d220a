"""Prometheus metrics: one private registry, and the small API the other layers call.

Call sites stay one line (`metrics.observe_ttft(seconds)`); nothing here knows about HTTP, SQL or
engines. Every series is prefixed `assistants_`. prometheus_client is thread-safe, so the engine
thread may call in directly. Gauges that are facts about the present (queue depth, runs in
progress) are set at scrape time by the `/metrics` route from the store and the batcher, so they
are right after a restart and never drift.

Several processes on one host (`serve --no-worker` beside `assistants worker`, or N API processes):
set `PROMETHEUS_MULTIPROC_DIR` to an empty directory they all share (prometheus-client's multiprocess
mode; the variable is its own and is read when it is imported). Then every process writes its series
there and any process's `/metrics` shows the sum over all of them: counters and histograms add up
(the workers' tokens, TTFT and batch steps included), the store facts show the latest scrape's
values, and the per-process gauges (engine batch, SSE streams, KV bytes) add up over live processes:
a process that exits cleanly takes its gauges out (`process_exiting`); one killed leaves them, so
empty the directory when the processes start. A worker process, which serves no `/metrics`, sets its
engine gauges on a timer (`__main__`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from assistants.protocol import run_status

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "count_http_response",
    "exposition",
    "observe_batch_step",
    "observe_kv_eviction",
    "observe_kv_lookup",
    "observe_kv_preemption",
    "observe_kv_reused",
    "observe_queue_wait",
    "observe_response_finished",
    "observe_run_finished",
    "observe_tokens",
    "observe_ttft",
    "process_exiting",
    "set_kv_cached_bytes",
    "set_live",
    "sse_subscriber",
]

REGISTRY = CollectorRegistry(auto_describe=True)
MULTIPROCESS = values.ValueClass is not values.MutexValue
"""prometheus-client chose its multiprocess values (PROMETHEUS_MULTIPROC_DIR was set at its import)."""
_STORE_FACT: Final = "mostrecent"
"""Read from the shared store at scrape time: every process sees the same, the latest scrape wins."""
_PER_PROCESS: Final = "livesum"
"""This process's own engine, streams and KV memory: summed over the processes still alive."""
disable_created_metrics()  # `*_created` samples double the output and no dashboard here uses them
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what every Prometheus version accepts (the "latest" 1.0.0 is not)

# Latency buckets span a 270M model on 2 cores (tens of ms) to a long run on a big model (minutes).
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)

RUNS = Gauge("assistants_runs", "Runs stored, by status (read from the store at scrape time).",
             ["status"], registry=REGISTRY,
             multiprocess_mode=_STORE_FACT)
RUN_QUEUE_DEPTH = Gauge("assistants_run_queue_depth", "Runs waiting in status queued.", registry=REGISTRY,
                        multiprocess_mode=_STORE_FACT)
RUNS_IN_PROGRESS = Gauge("assistants_runs_in_progress", "Runs being executed.", registry=REGISTRY,
                         multiprocess_mode=_STORE_FACT)
RUNS_FINISHED = Counter("assistants_runs_finished", "Runs that reached a terminal status, by status.",
                        ["status"], registry=REGISTRY)
RESPONSES = Gauge("assistants_responses", "Stored responses, by status (read from the store at scrape time).",
                  ["status"], registry=REGISTRY,
                  multiprocess_mode=_STORE_FACT)
RESPONSES_FINISHED = Counter("assistants_responses_finished",
                             "Responses that reached a terminal status (stored or not), by status and mode.",
                             ["status", "mode"], registry=REGISTRY)
# Counted by the batcher, so chat completions and runs are both included.
PROMPT_TOKENS = Counter("assistants_prompt_tokens", "Prompt tokens given to the engine.", registry=REGISTRY)
COMPLETION_TOKENS = Counter("assistants_completion_tokens", "Completion tokens generated.", registry=REGISTRY)
TTFT = Histogram("assistants_time_to_first_token_seconds",
                 "From a generation request entering the batcher to its first token.",
                 buckets=_LATENCY_BUCKETS, registry=REGISTRY)
RUN_DURATION = Histogram("assistants_run_duration_seconds", "From a run's start to its terminal status.",
                         ["status"], buckets=_LATENCY_BUCKETS, registry=REGISTRY)
QUEUE_WAIT = Histogram("assistants_run_queue_wait_seconds", "From a run's creation to its claim by a worker.",
                       buckets=_LATENCY_BUCKETS, registry=REGISTRY)
BATCH_SEQUENCES = Histogram("assistants_engine_batch_sequences",
                            "Sequences decoded together per engine step.",
                            buckets=_BATCH_BUCKETS, registry=REGISTRY)
BATCH_ACTIVE = Gauge("assistants_engine_active_sequences", "Sequences in the batch now.", registry=REGISTRY,
                     multiprocess_mode=_PER_PROCESS)
BATCH_SLOTS = Gauge("assistants_engine_slots", "Sequences the engine can decode together.", registry=REGISTRY,
                    multiprocess_mode=_PER_PROCESS)
BATCH_WAITING = Gauge("assistants_engine_waiting_requests", "Generation requests waiting for a batch slot.",
                      registry=REGISTRY,
                      multiprocess_mode=_PER_PROCESS)
KV_LOOKUPS = Counter("assistants_kv_cache_lookups",
                     "Prompts looked up in the prefix KV cache, by outcome (hit, miss, restored from disk, "
                     "restore_failed).", ["outcome"], registry=REGISTRY)
for _outcome in ("hit", "miss", "restored", "restore_failed"):
    KV_LOOKUPS.labels(_outcome)  # every outcome is a series from the start, at 0
KV_CACHED_TOKENS = Counter("assistants_kv_cache_reused_tokens",
                           "Prompt tokens reused from the prefix KV cache.",
                           registry=REGISTRY)
KV_EVICTIONS = Counter("assistants_kv_cache_evictions", "Cached prefixes evicted from the KV pool.",
                       registry=REGISTRY)
KV_PREEMPTIONS = Counter("assistants_kv_cache_preemptions",
                         "Live sequences preempted because the KV pool ran out (re-admitted later).",
                         registry=REGISTRY)
KV_CACHED_BYTES = Gauge("assistants_kv_cache_bytes",
                        "KV memory held by cached prefixes (not live sequences).",
                        registry=REGISTRY,
                        multiprocess_mode=_PER_PROCESS)
SSE_SUBSCRIBERS = Gauge("assistants_sse_subscribers", "Open server-sent-event streams.", registry=REGISTRY,
                        multiprocess_mode=_PER_PROCESS)
HTTP_REQUESTS = Counter("assistants_http_requests", "HTTP responses, by method, route template and status.",
                        ["method", "route", "status"], registry=REGISTRY)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
RESPONSE_STATUSES = ("queued", "in_progress", "completed", "failed", "cancelled", "incomplete")


def observe_ttft(seconds: float) -> None:
    TTFT.observe(seconds)


def observe_tokens(prompt: int, completion: int) -> None:
    """Once per finished generation (cancelled ones included: their tokens were computed)."""
    PROMPT_TOKENS.inc(prompt)
    COMPLETION_TOKENS.inc(completion)


def observe_kv_lookup(outcome: str) -> None:
    KV_LOOKUPS.labels(outcome).inc()


def observe_kv_reused(tokens: int) -> None:
    KV_CACHED_TOKENS.inc(tokens)


def observe_kv_eviction() -> None:
    KV_EVICTIONS.inc()


def observe_kv_preemption() -> None:
    KV_PREEMPTIONS.inc()


def set_kv_cached_bytes(value: int) -> None:
    KV_CACHED_BYTES.set(value)


def observe_run_finished(status: str, duration_seconds: float | None = None) -> None:
    """A run's execution ended; only terminal statuses count (requires_action pauses it)."""
    if status not in run_status.TERMINAL:
        return
    RUNS_FINISHED.labels(status).inc()
    if duration_seconds is not None:
        RUN_DURATION.labels(status).observe(duration_seconds)


def observe_response_finished(status: str, mode: str) -> None:
    """A response ended; `mode` is `sync`, `stream` or `background`."""
    RESPONSES_FINISHED.labels(status, mode).inc()


def observe_queue_wait(seconds: float) -> None:
    QUEUE_WAIT.observe(max(seconds, 0.0))


def observe_batch_step(sequences: int) -> None:
    """Called by the batcher once per decode step with the number of sequences in it."""
    BATCH_SEQUENCES.observe(sequences)


@contextmanager
def sse_subscriber() -> Iterator[None]:
    """Wrap the lifetime of one SSE stream (the gauge goes back down however the stream ends)."""
    SSE_SUBSCRIBERS.inc()
    try:
        yield
    finally:
        SSE_SUBSCRIBERS.dec()


def set_live(*, runs_by_status: dict[str, int] | None = None, active_sequences: int | None = None,
             slots: int | None = None, waiting_requests: int | None = None,
             responses_by_status: dict[str, int] | None = None) -> None:
    """Scrape-time facts. Statuses absent from `runs_by_status` are zero (a series must not go stale)."""
    if responses_by_status is not None:
        for status in sorted({*RESPONSE_STATUSES, *responses_by_status}):
            RESPONSES.labels(status).set(responses_by_status.get(status, 0))
    if runs_by_status is not None:
        for status in sorted({*run_status.ACTIVE, *run_status.TERMINAL, *runs_by_status}):
            RUNS.labels(status).set(runs_by_status.get(status, 0))
        RUN_QUEUE_DEPTH.set(runs_by_status.get("queued", 0))
        RUNS_IN_PROGRESS.set(runs_by_status.get("in_progress", 0))
    if active_sequences is not None:
        BATCH_ACTIVE.set(active_sequences)
    if slots is not None:
        BATCH_SLOTS.set(slots)
    if waiting_requests is not None:
        BATCH_WAITING.set(waiting_requests)


async def count_http_response(message: Any, scope: Any) -> None:
    """An app `before_send` hook: it sees every response, errors and unmatched paths included."""
    if message["type"] != "http.response.start" or scope.get("type") != "http":
        return
    route = scope.get("path_template") or "unmatched"  # never the raw path: ids would explode the series
    method = scope.get("method", "")
    HTTP_REQUESTS.labels(method if method in _METHODS else "other", route, str(message["status"])).inc()


def process_exiting() -> None:
    """A clean exit: this process's per-process gauges leave the multiprocess sum (its counters stay)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())


def exposition() -> bytes:
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    merged = CollectorRegistry()  # every process's files under PROMETHEUS_MULTIPROC_DIR, summed
    multiprocess.MultiProcessCollector(merged)
    return generate_latest(merged)
