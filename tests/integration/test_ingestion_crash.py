"""SIGKILL the server while it ingests a file into a vector store; the restarted server resumes the job
from the database and finishes it: the file ends `completed`, its chunks indexed once, searchable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import openai

from tests.serverproc import ServerProcess

HIDDEN = "The vault code of the Marrowind archive is 7741."


def _long_text() -> bytes:
    lines = [f"Ledger entry {index}: shipment {index * 7 % 113} of barley reached dock {index % 17} on day "
             f"{index % 28 + 1}, inspected by clerk number {index * 13 % 97}." for index in range(300)]
    lines.insert(250, HIDDEN)
    return "\n".join(lines).encode()


def _job(data_dir: Path) -> tuple[str, int]:
    with sqlite3.connect(f"file:{data_dir / 'assistants.db'}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT status, attempts FROM vector_store_files").fetchone()
    return (row[0], row[1]) if row else ("", 0)


def test_sigkill_during_ingestion_then_restart_completes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, "--no-model").start()
    try:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0)
        file_id = client.files.create(file=("ledger.txt", _long_text()), purpose="assistants").id
        store = client.vector_stores.create(name="ledger", file_ids=[file_id])
        deadline = time.monotonic() + 60
        while _job(data_dir)[1] < 1 and time.monotonic() < deadline:  # claimed: ingestion has started
            time.sleep(0.02)
        time.sleep(0.2)  # into the embedding of its chunks
    finally:
        server.kill()
    status, attempts = _job(data_dir)
    assert (status, attempts) == ("in_progress", 1), "the kill must land while the file is being ingested"

    server = ServerProcess(data_dir, "--no-model", port=server.port).start()
    try:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0)
        deadline = time.monotonic() + 300
        while client.vector_stores.retrieve(store.id).status == "in_progress" and time.monotonic() < deadline:
            time.sleep(0.2)
        resumed = client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
        assert resumed.status == "completed", resumed.last_error
        assert _job(data_dir) == ("completed", 2)
        results = client.vector_stores.search(store.id, query="vault code of the Marrowind archive").data
        assert HIDDEN in results[0].content[0].text
    finally:
        server.stop()
    with sqlite3.connect(data_dir / "chunks.sqlite3") as index:
        positions = [row[0] for row in index.execute("SELECT position FROM chunks ORDER BY position")]
    assert positions == list(range(len(positions))) and len(positions) > 5  # each chunk once
