"""Rows as records: plain dicts keyed by column (= wire) name, JSON columns already parsed.

JSON columns are selected as text and parsed here with msgspec, one C call per value: SQLAlchemy's
JSON result processing (three Python calls per value) plus RowMapping made up most of the CPU of a
list page of 20 messages.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.errors import not_found
from assistants.store.models import Base

Record = Mapping[str, Any]
"""What repository functions return: one row as column name -> value (names are the wire names)."""

JSON_COLUMNS = frozenset(column.name for table in Base.metadata.tables.values() for column in table.c
                         if isinstance(column.type, sa.JSON))
BOOLEAN_COLUMNS = frozenset(column.name for table in Base.metadata.tables.values() for column in table.c
                            if isinstance(column.type, sa.Boolean))
"""SQLite stores booleans as 0/1; a driver-level read (store.direct) gets ints back."""
_decode = msgspec.json.decode


def _check_names() -> None:
    # A name must mean the same type in every table, since records are parsed by column name.
    for table in Base.metadata.tables.values():
        for column in table.c:
            assert (column.name in JSON_COLUMNS) == isinstance(column.type, sa.JSON), column
            assert (column.name in BOOLEAN_COLUMNS) == isinstance(column.type, sa.Boolean), column


_check_names()


@functools.cache
def record_columns(table: sa.Table) -> tuple[sa.Label[Any], ...]:
    """Select list for records: JSON columns as their stored text, every label a plain `str` (a
    column given an explicit name, `metadata`, is otherwise keyed by SQLAlchemy's `quoted_name`).
    A CAST, not only a type coercion: asyncpg would otherwise parse `json` values itself, and a JSON
    string ("auto") would come back indistinguishable from JSON text."""
    return tuple((sa.cast(column, sa.Text) if isinstance(column.type, sa.JSON) else column)
                 .label(str(column.name)) for column in table.c)


def record_column(table: sa.Table, name: str) -> sa.Label[Any]:
    """One column as records select it (JSON as its text)."""
    return next(column for column in record_columns(table) if column.name == name)


@functools.cache
def select_records(table: sa.Table) -> sa.Select[Any]:
    """`SELECT <record_columns> FROM table`, built once (statements are immutable; `.where()` copies)."""
    return sa.select(*record_columns(table))


def all_records(result: sa.Result[Any]) -> list[Record]:
    return records_from([str(key) for key in result.keys()], result)


def records_from(keys: list[str], rows: Iterable[Sequence[Any]]) -> list[Record]:
    """Rows (sequences in `keys` order) as records, JSON columns parsed."""
    json_at = [index for index, key in enumerate(keys) if key in JSON_COLUMNS]
    bool_at = [index for index, key in enumerate(keys) if key in BOOLEAN_COLUMNS]
    records: list[Record] = []
    for row in rows:
        values = list(row)
        for index in json_at:
            value = values[index]
            if value is not None:
                # Always the stored text (record_columns casts it), so decoded exactly once: guessing
                # from the Python type ("a str is text to parse") decoded a JSON string a driver had
                # already parsed a second time.
                if not isinstance(value, (str, bytes)):
                    raise TypeError(f"JSON column {keys[index]!r} not selected as text (use record_columns)")
                values[index] = _decode(value)
        for index in bool_at:
            if values[index] is not None:
                values[index] = bool(values[index])
        records.append(dict(zip(keys, values, strict=True)))
    return records


async def update_metadata(session: AsyncSession, table: sa.Table, kind: str, object_id: str,
                          metadata: dict[str, str] | None, **scope: str) -> Record:
    """Replace one row's metadata (null stores `{}`) and return the row; 404 when no row matches
    `id` and the `scope` columns (e.g. the thread a message belongs to)."""
    conditions = [table.c.id == object_id, *(table.c[name] == value for name, value in scope.items())]
    row = first_record(await session.execute(
        sa.update(table).where(*conditions).values(metadata=metadata or {})
        .returning(*record_columns(table))))
    if row is None:
        raise not_found(kind, object_id)
    return row


def first_record(result: sa.Result[Any]) -> Record | None:
    records = all_records(result)
    return records[0] if records else None
