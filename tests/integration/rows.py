"""Count rows in the server's database: how "no row was written" is checked (read-only, WAL-safe)."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from tests.pgdatabase import query
from tests.serverproc import ServerProcess

TABLES = ("assistants", "threads", "messages", "runs", "run_steps", "run_events")


def _counts(server: ServerProcess, tables: tuple[str, ...]) -> dict[str, int]:
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in tables)
    url = sa.make_url(server.db_url)
    if url.get_backend_name() == "postgresql":
        (row,) = query(server.db_url, sql)
    else:
        with sqlite3.connect(f"file:{url.database}?mode=ro", uri=True) as connection:
            row = connection.execute(sql).fetchone()
    return dict(zip(tables, map(int, row), strict=True))


def count_rows(server: ServerProcess, table: str) -> int:
    return _counts(server, (table,))[table]


def count_all(server: ServerProcess) -> dict[str, int]:
    return _counts(server, TABLES)
