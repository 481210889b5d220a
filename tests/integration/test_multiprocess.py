"""API and workers as separate processes on one SQLite file: streams, cancels and recovery cross them.

A is `serve --no-model --no-worker` (API only), B is `serve` (API and a worker), W is `assistants
worker`. Runs are created through A, streamed from B, decoded by B or W.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.sse import Frame, read_until_done
from tests.serverproc import ServerProcess, WorkerProcess

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}
MODEL_ARGS = ("--parallel", "4", "--ctx-size", "2048", "--threads", "1", "--heartbeat-timeout", "3")


def client_for(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0, timeout=300)


def rows(data_dir: Path, sql: str, *params: object) -> list[tuple]:
    db = sqlite3.connect(data_dir / "assistants.db", timeout=30)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def wait_terminal(client: openai.OpenAI, runs: list, limit: float = 300) -> list:
    deadline = time.monotonic() + limit
    out = []
    for run in runs:
        while True:
            current = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
            if current.status in TERMINAL:
                break
            assert time.monotonic() < deadline, f"run {run.id} still {current.status}"
            time.sleep(0.1)
        out.append(current)
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[tuple]:
    data_dir = tmp_path_factory.mktemp("cluster")
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


def owner_pid(data_dir: Path, run_id: str) -> int | None:
    ((worker_id,),) = rows(data_dir, "SELECT worker_id FROM runs WHERE id = ?", run_id)
    return int(worker_id.split(":")[1]) if worker_id else None


def test_streams_from_another_process_are_complete_ordered_and_duplicate_free(cluster: tuple) -> None:
    _, api, both, _ = cluster
    client = client_for(api)
    assistant = client.beta.assistants.create(model="default")
    runs = [client.beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=16,
        thread={"messages": [{"role": "user", "content": f"Count to {n}:"}]}) for n in range(16)]
    http = httpx.Client(base_url=both.base_url, timeout=300)

    def stream(run: openai.types.beta.threads.Run) -> list[Frame]:
        return read_until_done(http, f"/v1/threads/{run.thread_id}/runs/{run.id}/events")

    with ThreadPoolExecutor(16) as pool:
        streams = list(pool.map(stream, runs))
    finished = wait_terminal(client, runs)
    for run, frames in zip(finished, streams, strict=True):
        events = [f for f in frames if f.id is not None]
        ids = [f.id for f in events]
        assert ids == sorted(set(ids)), "out of order or duplicated"
        assert [f.event for f in events[:2]] == ["thread.created", "thread.run.created"]
        assert events[-1].event == f"thread.run.{run.status}"
        assert frames[-1].event == "done"
        replay = [f for f in stream(run) if f.id is not None]  # the log, read again afterwards
        assert [(f.id, f.event, f.data) for f in events] == [(f.id, f.event, f.data) for f in replay]
        (answer,) = [m for m in client.beta.threads.messages.list(thread_id=run.thread_id).data
                     if m.role == "assistant"]
        text = "".join(f.json()["delta"]["content"][0]["text"]["value"]
                       for f in events if f.event == "thread.message.delta")
        assert text == answer.content[0].text.value
    assert {run.status for run in finished} <= {"completed", "incomplete"}


def test_a_cancel_sent_to_the_api_process_stops_a_run_another_process_decodes(cluster: tuple) -> None:
    data_dir, api, both, worker = cluster
    client = client_for(api)
    assistant = client.beta.assistants.create(model="default")
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=600,
        thread={"messages": [{"role": "user", "content": "Write a very long story:"}]})
    deadline = time.monotonic() + 120
    while not rows(data_dir, "SELECT 1 FROM messages WHERE run_id = ? AND content != '[]'", run.id):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert owner_pid(data_dir, run.id) in {both.proc.pid, worker.pid}  # not the API process (no worker)
    assert client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id).status == "cancelling"
    (done,) = wait_terminal(client, [run], limit=60)
    assert done.status == "cancelled" and done.usage.completion_tokens < 600
    (answer,) = [m for m in client.beta.threads.messages.list(thread_id=run.thread_id).data
                 if m.role == "assistant"]
    assert answer.status == "incomplete" and answer.incomplete_details.reason == "run_cancelled"


def test_kill_9_of_one_worker_recovers_only_its_runs(cluster: tuple, bundled_model: Path) -> None:
    data_dir, api, both, worker = cluster
    client = client_for(api)
    assistant = client.beta.assistants.create(model="default")
    runs = [client.beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=120,
        thread={"messages": [{"role": "user", "content": f"Tell story {n}:"}]}) for n in range(8)]
    deadline = time.monotonic() + 120
    while True:  # until both processes decode some of them
        owners = {run.id: owner_pid(data_dir, run.id) for run in runs}
        if {both.proc.pid, worker.pid} <= set(owners.values()):
            break
        assert time.monotonic() < deadline, owners
        time.sleep(0.05)
    killed = {run_id for run_id, pid in owners.items() if pid == worker.pid}
    kept = {run_id for run_id, pid in owners.items() if pid == both.proc.pid}
    worker.kill()
    try:
        finished = wait_terminal(client, runs)
    finally:
        worker.start(timeout=300)  # the module's cluster goes on with two workers
    assert {run.status for run in finished} <= {"completed", "incomplete"}
    state = {r[0]: r[1:] for r in rows(data_dir, "SELECT id, attempts, isolated, crashes FROM runs")}
    started = dict(rows(data_dir, "SELECT run_id, count(*) FROM run_events WHERE event = "
                                  "'thread.run.in_progress' GROUP BY run_id"))
    for run_id in kept:  # the live worker's runs were never touched
        assert state[run_id] == (1, 0, 0) and started[run_id] == 1
    for run_id in killed:  # re-run from the start; a death beside other runs charges none of them
        assert state[run_id][0] == 2 and started[run_id] == 2  # the first attempt, then the re-run
        assert state[run_id][1:] == ((1, 0) if len(killed) > 1 else (1, 1))
    for run in finished:
        messages = client.beta.threads.messages.list(thread_id=run.thread_id).data
        assert sorted(m.role for m in messages) == ["assistant", "user"]
