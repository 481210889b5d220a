"""Records (rows as mappings) -> wire objects, in one place.

Columns carry the wire names, so each conversion is one `msgspec.convert`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from assistants.protocol.assistants import Assistant
from assistants.protocol.messages import Message
from assistants.protocol.runs import Run
from assistants.protocol.steps import RunStep
from assistants.protocol.threads import Thread

T = TypeVar("T")


def _from_row(record: Mapping[str, Any], type_: type[T]) -> T:
    # A record maps column names (= wire names) to values; extra columns (sequence, attempts) are ignored.
    return msgspec.convert(record if type(record) is dict else dict(record), type_)


def assistant_object(row: Mapping[str, Any]) -> Assistant:
    return _from_row(row, Assistant)


def thread_object(row: Mapping[str, Any]) -> Thread:
    return _from_row(row, Thread)


def message_object(row: Mapping[str, Any]) -> Message:
    return _from_row(row, Message)


def run_object(row: Mapping[str, Any]) -> Run:
    return _from_row(row, Run)


def step_object(row: Mapping[str, Any]) -> RunStep:
    return _from_row(row, RunStep)


def to_json_value(value: Any) -> Any:
    """A wire value (Struct, list of Structs, literal) in the builtin form stored in a JSON column."""
    return msgspec.to_builtins(value)
