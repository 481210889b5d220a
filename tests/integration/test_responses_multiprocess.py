"""Background responses across processes on one SQLite file: created on B (`serve`, model and worker),
decoded by B or W (`assistants worker`), followed and cancelled through A (`serve --no-model
--no-worker`), which has neither a model nor a worker: the log, the lease and the cancel flag are in
the database. A worker hears of a response queued elsewhere from its announcement in the run event log,
as it hears of runs, not at its next poll."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.serverproc import ServerProcess, WorkerProcess

MODEL_ARGS = ("--parallel", "2", "--ctx-size", "2048", "--threads", "1", "--heartbeat-timeout", "3")
NEVER_POLLS = 300.0
"""A worker's poll interval far beyond what a 4-token response takes: one decoded sooner was announced."""
GREEDY = {"model": "default", "temperature": 0}


def client_for(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[tuple]:
    data_dir = tmp_path_factory.mktemp("responses-cluster")
    api = ServerProcess(data_dir, "--no-model", "--no-worker").start()
    both = ServerProcess(data_dir, "--model", str(bundled_model), *MODEL_ARGS)
    worker = WorkerProcess(data_dir, "--model", str(bundled_model), *MODEL_ARGS)
    try:
        both.start(timeout=300)
        worker.start(timeout=300)
        yield data_dir, api, both, worker
    finally:
        for process in (worker, both, api):
            process.stop()


def owner_pids(data_dir: Path) -> set[int]:
    """The pids of the workers holding a response now (a lease is cleared when the response ends)."""
    db = sqlite3.connect(data_dir / "assistants.db", timeout=NEVER_POLLS / 20)
    try:
        rows = db.execute("SELECT worker_id FROM responses WHERE worker_id IS NOT NULL").fetchall()
    finally:
        db.close()
    return {int(worker_id.split(":")[1]) for (worker_id,) in rows}


def test_created_on_one_process_followed_and_cancelled_on_another(cluster: tuple) -> None:
    data_dir, api, both, worker = cluster
    creator, follower = client_for(both), client_for(api)
    queued = [creator.responses.create(input=f"Count to {n}:", background=True, max_output_tokens=8, **GREEDY)
              for n in range(4)]
    for response in queued:
        events = list(follower.responses.retrieve(response.id, stream=True))  # A follows the log by polling
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert events[0].type == "response.created" and events[-1].type == "response.incomplete"
        assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == \
            follower.responses.retrieve(response.id).output_text

    long = creator.responses.create(input="Count from one to one thousand: one, two,", background=True,
                                    max_output_tokens=600, **GREEDY)
    deadline = time.monotonic() + 120
    while follower.responses.retrieve(long.id).status == "queued" and time.monotonic() < deadline:
        time.sleep(0.1)
    during = owner_pids(data_dir)
    assert during and during <= {both.proc.pid, worker.proc.pid}  # type: ignore[union-attr]
    cancelled = follower.responses.cancel(long.id)  # A runs no worker: the owner reads it from the log
    assert cancelled.status == "cancelled"
    assert cancelled.usage is not None and cancelled.usage.output_tokens < 600


@pytest.fixture(scope="module")
def announced(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[tuple]:
    """An API process without a worker (its model builds the prompt), and a worker whose next poll is
    minutes away: what it decodes before that, it was told of."""
    data_dir = tmp_path_factory.mktemp("responses-announced")
    api = ServerProcess(data_dir, "--model", str(bundled_model), *MODEL_ARGS, "--no-worker")
    worker = WorkerProcess(data_dir, "--model", str(bundled_model), *MODEL_ARGS,
                           "--worker-poll-interval", str(NEVER_POLLS))
    try:
        api.start(timeout=300)
        worker.start(timeout=300)
        yield api, worker
    finally:
        for process in (worker, api):
            process.stop()


def test_a_response_queued_through_another_process_is_claimed_at_once_not_at_the_next_poll(
        announced: tuple) -> None:
    api, worker = announced
    client = client_for(api)
    for n in range(2):  # the second one queued after the worker's first (start-up) claim, like the first
        started = time.monotonic()
        response = client.responses.create(input=f"Count to {n}:", background=True, max_output_tokens=4,
                                           **GREEDY)
        while response.status in ("queued", "in_progress"):
            assert time.monotonic() - started < NEVER_POLLS, "left for the worker's poll"
            time.sleep(0.05)
            response = client.responses.retrieve(response.id)
        assert response.status == "incomplete" and response.usage is not None  # its 4 tokens decoded
    assert worker.alive()
