"""Pure parts of the ops layer: log context, JSON log lines, the ready line, metric helpers, key checks."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from assistants import logs, metrics
from assistants.__main__ import ready_line
from assistants.security import ApiKeyMiddleware, cors_config
from assistants.settings import Settings


def format_record(formatter: logging.Formatter, message: str) -> str:
    record = logging.LogRecord("assistants.test", logging.INFO, __file__, 1, message, None, None)
    logs._ContextFilter().filter(record)
    return formatter.format(record)


async def test_a_task_created_inside_log_context_keeps_the_run_ids() -> None:
    seen: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0)
        seen.append(format_record(logs.JsonFormatter(), "decoding"))

    with logs.log_context(run_id="run_1", thread_id="thread_1"):
        task = asyncio.create_task(work())
    assert logs.run_id_var.get() is None  # reset outside the block...
    await task
    entry = json.loads(seen[0])  # ...but the task kept its copy
    assert entry["run_id"] == "run_1" and entry["thread_id"] == "thread_1"
    assert entry["message"] == "decoding" and entry["level"] == "info"


def test_text_lines_carry_only_the_ids_that_are_set() -> None:
    assert format_record(logs.TextFormatter(), "plain").endswith("assistants.test: plain")
    token = logs.request_id_var.set("req_1")
    try:
        assert format_record(logs.TextFormatter(), "tagged").endswith("tagged [request_id=req_1]")
    finally:
        logs.request_id_var.reset(token)


def test_ready_line_says_where_and_never_the_password() -> None:
    local = Settings(data_dir=Path("/d"), load_model=False)
    line = ready_line(local, object())
    assert line.startswith("assistants: serving no model (--no-model) on http://127.0.0.1:8000 — database ")
    assert "reachable from the network" not in line and "no auth" in line
    exposed = Settings(data_dir=Path("/d"), host="0.0.0.0", port=9000, api_keys=("k",),
                       db="postgresql+asyncpg://app:hunter2@db/x")
    line = ready_line(exposed, object())
    assert "http://0.0.0.0:9000 (reachable from the network)" in line
    assert "app:***@db/x" in line and "hunter2" not in line and "api keys required" in line


def test_only_terminal_statuses_count_as_finished() -> None:
    def finished(status: str) -> float:
        families = text_string_to_metric_families(metrics.exposition().decode())
        return next((s.value for f in families for s in f.samples
                     if s.name == "assistants_runs_finished_total" and s.labels == {"status": status}), 0.0)

    before = finished("completed")
    metrics.observe_run_finished("requires_action", 1.0)
    metrics.observe_run_finished("completed", 2.0)
    assert finished("completed") == before + 1
    assert finished("requires_action") == 0


def test_key_check_accepts_every_configured_key_only() -> None:
    guard = ApiKeyMiddleware(["k-one", "k-two"])
    assert guard.is_valid(b"k-one") and guard.is_valid(b"k-two")
    assert not guard.is_valid(b"k-on") and not guard.is_valid(b"") and not guard.is_valid(b"k-one ")


def test_cors_is_closed_unless_configured() -> None:
    assert cors_config(()) is None
    config = cors_config(("http://ui.test",))
    assert config is not None and config.allow_origins == ["http://ui.test"]
    assert not config.allow_credentials
