"""Two server processes share one database and data dir (SQLite and PostgreSQL): their ingestion workers
lease the jobs, so each file is ingested by one of them, once; SIGKILL the one holding a job and the
other takes it over (its pid is gone on this host) and finishes it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.integration.test_ingestion_crash import _long_text
from tests.pgdatabase import fresh_database, query
from tests.serverproc import ServerProcess

FILES = 4


@pytest.fixture(params=["sqlite", "postgres"])
def database_args(request: pytest.FixtureRequest) -> Iterator[tuple[str, ...]]:
    if request.param == "sqlite":
        yield ()
        return
    with fresh_database("ingest") as url:
        yield ("--db", url)


def jobs(server: ServerProcess) -> dict[str, tuple[str, int, int | None]]:
    """file id -> (status, attempts, pid of the worker that holds or held it)."""
    sql = "SELECT id, status, attempts, worker_id FROM vector_store_files"
    if "--db" in server.args:
        rows = query(server.db_url, sql)
    else:
        with sqlite3.connect(f"file:{server.data_dir / 'assistants.db'}?mode=ro", uri=True) as connection:
            rows = connection.execute(sql).fetchall()
    return {row[0]: (row[1], row[2], int(row[3].split(":")[1]) if row[3] else None) for row in rows}


def test_two_processes_ingest_each_file_once_and_recover_a_killed_ones_job(
        tmp_path: Path, database_args: tuple[str, ...]) -> None:
    data_dir = tmp_path / "shared"
    args = ("--no-model", "--heartbeat-timeout", "10", *database_args)
    first = ServerProcess(data_dir, *args).start()
    second = ServerProcess(data_dir, *args).start()
    try:
        client = openai.OpenAI(base_url=first.base_url + "/v1", api_key="test", max_retries=0)
        ids = [client.files.create(file=(f"ledger{n}.txt", _long_text()), purpose="assistants").id
               for n in range(FILES)]
        store = client.vector_stores.create(name="shared", file_ids=ids)
        assert first.proc is not None and second.proc is not None
        deadline = time.monotonic() + 120
        while not any(status == "in_progress" and pid == first.proc.pid
                      for status, _, pid in jobs(first).values()):
            assert time.monotonic() < deadline, "the first server never claimed a job"
            time.sleep(0.02)
        first.kill()
        killed = [file_id for file_id, (status, _, pid) in jobs(second).items()
                  if status == "in_progress" and pid == first.proc.pid]
        client = openai.OpenAI(base_url=second.base_url + "/v1", api_key="test", max_retries=0)
        deadline = time.monotonic() + 600
        while client.vector_stores.retrieve(store.id).status == "in_progress":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        done = jobs(second)
        assert {status for status, _, _ in done.values()} == {"completed"}
        for file_id in killed:  # taken over by the survivor: claimed twice, the second time by it
            assert done[file_id][1:] == (2, second.proc.pid)
        assert all(done[file_id][1] == 1 for file_id in ids if file_id not in killed)  # claimed once each
        results = client.vector_stores.search(store.id, query="vault code of the Marrowind archive").data
        assert "7741" in results[0].content[0].text
    finally:
        first.kill()
        second.stop()
    with sqlite3.connect(data_dir / "chunks.sqlite3") as index:
        rows = index.execute("SELECT file_id, position FROM chunks ORDER BY file_id, position").fetchall()
    for file_id in ids:  # each chunk of each file indexed once
        positions = [position for owner, position in rows if owner == file_id]
        assert positions == list(range(len(positions))) and positions
