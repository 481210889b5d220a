"""Count rows in the server's SQLite file: how "no row was written" is checked (read-only, WAL-safe)."""

from __future__ import annotations

import sqlite3

from tests.serverproc import ServerProcess


def count_rows(server: ServerProcess, table: str) -> int:
    path = server.data_dir / "assistants.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def count_all(server: ServerProcess) -> dict[str, int]:
    return {
        table: count_rows(server, table)
        for table in ("assistants", "threads", "messages", "runs", "run_steps", "run_events")
    }
