"""The two hottest statements (add a message, read a page) run straight on the SQLite driver.

A SQLAlchemy execution costs ~600 Python calls (session -> connection -> compiled-cache lookup ->
cursor adaptation through greenlets) whatever the statement; on these routes that was most of the
server's CPU per request. Here a prebuilt statement is compiled once, and each call sends its SQL
and parameters to the driver connection of the session's own transaction: the same connection,
the same `BEGIN IMMEDIATE` and write lock, the same commit. Any other backend (PostgreSQL) takes the
ordinary `session.execute` path, so behaviour does not depend on which path ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

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
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        json_names = frozenset(name for name in names if isinstance(compiled.binds[name].type, sa.JSON))
        baked = compiled.construct_params(_check=False)
        # Keep the statement alive with its entry, so its id() cannot be reused by another one.
        entry = _prepared[id(statement)] = (statement, _Prepared(compiled.string, names, json_names, baked))
    return entry[1]


async def execute(session: AsyncSession, statement: sa.Executable, params: dict[str, Any]) -> Outcome:
    """Run a prebuilt, parameter-only statement (no expanding IN lists) in the session's transaction."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if not isinstance(driver, InlineConnection):
        result = await session.execute(statement, params)
        return Outcome(all_records(result) if result.returns_rows else [], result.rowcount)
    prepared = _prepare(statement, connection.dialect)
    baked = prepared.baked
    values = [json_serializer(params[name]) if name in prepared.json_names else params.get(name, baked[name])
              for name in prepared.names]
    cursor = driver.execute_now(prepared.sql, values)
    if cursor.description is None:
        return Outcome([], cursor.rowcount)
    return Outcome(records_from([column[0] for column in cursor.description], cursor.fetchall()),
                   cursor.rowcount)
