"""The hottest statements run straight on the SQLite driver: add a message, read a page, and the
event flush's statements (append events, a streaming message's partial text, read the log's tail).

A SQLAlchemy execution costs ~600 Python calls (session -> connection -> compiled-cache lookup ->
cursor adaptation through greenlets) whatever the statement; on these routes that was most of the
server's CPU per request. Here a prebuilt statement is compiled once, and each call sends its SQL
and parameters to the driver connection of the session's own transaction: the same connection,
the same `BEGIN IMMEDIATE` and write lock, the same commit. Any other backend (PostgreSQL) takes the
ordinary `session.execute` path, so behaviour does not depend on which path ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from assistants.store.database import json_serializer
from assistants.store.records import Record, all_records, records_from
from assistants.store.sqlite_inline import InlineConnection


@dataclass(frozen=True, slots=True)
class Outcome:
    records: list[Record]
    rowcount: int


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    names: tuple[str, ...]
    """Bound parameter names in placeholder order."""
    json_names: frozenset[str]
    """Parameters bound to JSON columns: encoded here, as SQLAlchemy would."""
    baked: dict[str, Any]
    """Values fixed in the statement itself (anonymous binds, e.g. SQLite's `OFFSET 0`)."""


_prepared: dict[int, tuple[sa.Executable, _Prepared]] = {}


def _prepare(statement: sa.Executable, dialect: sa.Dialect) -> _Prepared:
    entry = _prepared.get(id(statement))
    if entry is None or entry[0] is not statement:
        # The SQL compiler (positiontup, binds), not the base Compiled that compile() is typed as.
        compiled = cast(SQLCompiler, cast(sa.ClauseElement, statement).compile(dialect=dialect))
        names = tuple(compiled.positiontup or ())
        json_names = frozenset(name for name in names if isinstance(compiled.binds[name].type, sa.JSON))
        baked = compiled.construct_params(_check=False)
        # Keep the statement alive with its entry, so its id() cannot be reused by another one.
        entry = _prepared[id(statement)] = (statement, _Prepared(compiled.string, names, json_names,
                                                                 dict(baked)))
    return entry[1]


async def _inline_driver(session: AsyncSession) -> tuple[InlineConnection | None, sa.Dialect]:
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    return (driver if isinstance(driver, InlineConnection) else None), connection.dialect


def _values(prepared: _Prepared, params: dict[str, Any]) -> list[Any]:
    baked = prepared.baked
    return [json_serializer(params[name]) if name in prepared.json_names else params.get(name, baked[name])
            for name in prepared.names]


async def execute_many(session: AsyncSession, statement: sa.Executable, rows: list[dict[str, Any]]) -> None:
    """Run a prebuilt statement once per parameter set (sqlite3's executemany: one C loop)."""
    if not rows:
        return
    driver, dialect = await _inline_driver(session)
    if driver is None:
        await session.execute(statement, rows)
        return
    prepared = _prepare(statement, dialect)
    driver.execute_many_now(prepared.sql, [_values(prepared, row) for row in rows])


async def execute(session: AsyncSession, statement: sa.Executable, params: dict[str, Any]) -> Outcome:
    """Run a prebuilt, parameter-only statement (no expanding IN lists) in the session's transaction."""
    driver, dialect = await _inline_driver(session)
    if driver is None:
        result = cast(sa.CursorResult[Any], await session.execute(statement, params))
        return Outcome(all_records(result) if result.returns_rows else [], result.rowcount)
    prepared = _prepare(statement, dialect)
    cursor = driver.execute_now(prepared.sql, _values(prepared, params))
    if cursor.description is None:
        return Outcome([], cursor.rowcount)
    return Outcome(records_from([column[0] for column in cursor.description], cursor.fetchall()),
                   cursor.rowcount)
