"""Attribute filters (OpenAI's comparison and compound filters) evaluated on a file's attributes.

A comparison on a key the file does not have is false, except `ne` and `nin`, which are true (the file
has no such value). Ordering comparisons (gt, gte, lt, lte) hold between two numbers or two strings;
across types they are false. Booleans are not numbers here (True is not 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistants.protocol.vector_stores import ComparisonFilter, CompoundFilter, Filter


def matches(condition: Filter, attributes: Mapping[str, Any] | None) -> bool:
    if isinstance(condition, CompoundFilter):
        results = (matches(part, attributes) for part in condition.filters)
        return all(results) if condition.type == "and" else any(results)
    return _compare(condition, attributes or {})


def _compare(condition: ComparisonFilter, attributes: Mapping[str, Any]) -> bool:
    if condition.key not in attributes:
        return condition.type in ("ne", "nin")
    actual, wanted = attributes[condition.key], condition.value
    if condition.type == "eq":
        return _same(actual, wanted)
    if condition.type == "ne":
        return not _same(actual, wanted)
    if condition.type == "in":
        return any(_same(actual, item) for item in wanted)  # type: ignore[union-attr]
    if condition.type == "nin":
        return not any(_same(actual, item) for item in wanted)  # type: ignore[union-attr]
    if not _comparable(actual, wanted):
        return False
    return {"gt": actual > wanted, "gte": actual >= wanted, "lt": actual < wanted,
            "lte": actual <= wanted}[condition.type]


def _same(actual: Any, wanted: Any) -> bool:
    return isinstance(actual, bool) == isinstance(wanted, bool) and actual == wanted


def _comparable(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return False
    numbers = (int, float)
    return (isinstance(actual, numbers) and isinstance(wanted, numbers)) or (
        isinstance(actual, str) and isinstance(wanted, str))
