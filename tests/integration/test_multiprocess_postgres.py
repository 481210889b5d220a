"""Scale-out on PostgreSQL: two API processes (`serve --no-model --no-worker`) and two `assistants
worker` processes share one database. Runs are created round-robin through the APIs and streamed from
the other API; a worker killed with SIGKILL mid-run loses none of its runs to the other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.sse import Frame, read_until_done
from tests.integration.test_multiprocess import MODEL_ARGS, client_for, wait_terminal
from tests.pgdatabase import fresh_database, query
from tests.serverproc import ServerProcess, WorkerProcess

RUNS = 32


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[tuple]:
    with fresh_database("cluster") as url:
        data_dir = tmp_path_factory.mktemp("pg-cluster")
        db = ("--db", url)
        apis = [ServerProcess(data_dir, "--no-model", "--no-worker", *db) for _ in range(2)]
        # A long heartbeat timeout: a kill -9 on this host is seen at once (its pid is gone), and a
        # stall of the busy machine should not pass for a death.
        args = ("--model", str(bundled_model), *MODEL_ARGS, "--heartbeat-timeout", "10", *db)
        workers = [WorkerProcess(data_dir, *args, name=f"worker{n}") for n in range(2)]
        try:
            for api in apis:
                api.start()
            for worker in workers:
                worker.start(timeout=300)
            yield url, apis, workers
        finally:
            for process in (*workers, *apis):
                process.stop()


def owner_pids(url: str, run_ids: list[str]) -> dict[str, int | None]:
    rows = query(url, "SELECT id, worker_id FROM runs WHERE id = ANY($1::text[])", run_ids)
    return {run_id: int(worker_id.split(":")[1]) if worker_id else None for run_id, worker_id in rows}


def assistant_messages(client: openai.OpenAI, thread_id: str) -> list:
    return [m for m in client.beta.threads.messages.list(thread_id=thread_id).data if m.role == "assistant"]


def test_32_runs_round_robin_through_two_apis_streamed_from_the_other(cluster: tuple) -> None:
    url, apis, workers = cluster
    clients = [client_for(api) for api in apis]
    assistant = clients[0].beta.assistants.create(model="default")
    runs = [clients[n % 2].beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=8,
        thread={"messages": [{"role": "user", "content": f"Count to {n}:"}]}) for n in range(RUNS)]
    https = [httpx.Client(base_url=api.base_url, timeout=300) for api in apis]

    def stream(n: int) -> list[Frame]:  # from the API the run was not created on
        run = runs[n]
        return read_until_done(https[(n + 1) % 2], f"/v1/threads/{run.thread_id}/runs/{run.id}/events")

    with ThreadPoolExecutor(16) as pool:
        streams = list(pool.map(stream, range(RUNS)))
    finished = wait_terminal(clients[0], runs)
    assert {run.status for run in finished} <= {"completed", "incomplete"}
    attempts = dict(query(url, "SELECT id, attempts FROM runs WHERE id = ANY($1::text[])",
                          [run.id for run in runs]))
    for n, (run, frames) in enumerate(zip(finished, streams, strict=True)):
        events = [f for f in frames if f.id is not None]
        ids = [f.id for f in events]
        assert ids == sorted(set(ids)), "out of order or duplicated"
        assert [f.event for f in events[:2]] == ["thread.created", "thread.run.created"]
        assert events[-1].event == f"thread.run.{run.status}" and frames[-1].event == "done"
        (answer,) = assistant_messages(clients[n % 2], run.thread_id)
        # A worker stalled past the heartbeat timeout on a busy machine loses its run to the other,
        # which decodes it again from the start: a live stream saw both attempts; the last one is
        # the stored message (the first one's events left the log).
        starts = [i for i, f in enumerate(events) if f.event == "thread.run.in_progress"]
        assert 1 <= len(starts) <= attempts[run.id]
        text = "".join(f.json()["delta"]["content"][0]["text"]["value"]
                       for f in events[starts[-1]:] if f.event == "thread.message.delta")
        assert text == answer.content[0].text.value, (attempts[run.id], [f.event for f in events])
    owners = owner_pids(url, [run.id for run in runs])
    assert set(owners.values()) == {worker.pid for worker in workers}  # both workers decoded some


def test_kill_9_of_one_worker_hands_its_runs_to_the_other(cluster: tuple) -> None:
    url, apis, workers = cluster
    clients = [client_for(api) for api in apis]
    assistant = clients[0].beta.assistants.create(model="default")
    runs = [clients[n % 2].beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=120,
        thread={"messages": [{"role": "user", "content": f"Tell story {n}:"}]}) for n in range(8)]
    victim, survivor = workers
    deadline = time.monotonic() + 120
    while True:  # until both workers decode some of them
        owners = owner_pids(url, [run.id for run in runs])
        statuses = dict(query(url, "SELECT id, status FROM runs WHERE id = ANY($1::text[])",
                              [run.id for run in runs]))
        live = {run_id: pid for run_id, pid in owners.items() if statuses[run_id] == "in_progress"}
        if {victim.pid, survivor.pid} <= set(live.values()):
            break
        assert time.monotonic() < deadline, owners
        time.sleep(0.05)
    killed = {run_id for run_id, pid in live.items() if pid == victim.pid}
    victim.kill()
    try:
        finished = wait_terminal(clients[1], runs)
    finally:
        victim.start(timeout=300)  # the module's cluster goes on with two workers
    assert {run.status for run in finished} <= {"completed", "incomplete"}
    attempts = dict(query(url, "SELECT id, attempts FROM runs WHERE id = ANY($1::text[])", list(killed)))
    started = dict(query(url, "SELECT run_id, count(*) FROM run_events WHERE run_id = ANY($1::text[]) "
                              "AND event = 'thread.run.in_progress' GROUP BY run_id", list(killed)))
    final_owners = owner_pids(url, list(killed))
    for run_id in killed:  # re-run from the start by the survivor
        assert attempts[run_id] == 2 and started[run_id] == 2
        assert final_owners[run_id] == survivor.pid
    for n, run in enumerate(finished):  # no lost and no duplicate message
        messages = clients[n % 2].beta.threads.messages.list(thread_id=run.thread_id).data
        assert sorted(m.role for m in messages) == ["assistant", "user"]
        assert messages[0].run_id == run.id or messages[1].run_id == run.id
