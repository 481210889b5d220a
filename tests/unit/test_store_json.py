"""JSON column values come back exactly as stored, on both backends: each is decoded once, however it
is selected. A JSON *string* ("auto") is where a second decode shows: asyncpg parses `json` values
itself unless the select casts them to text, and decoding "auto" again fails (or, for a string that
is itself JSON text, silently returns something else)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from assistants.store import Database
from assistants.store import responses as response_store
from assistants.store.models import response_items

LOOKS_LIKE_JSON = '{"a": 1}'
"""A string whose text is itself JSON: decoded twice it would turn into an object."""


@pytest.fixture()
def database(backend_database: Database) -> Database:
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_database


def response_row(response_id: str, **changes: Any) -> dict[str, Any]:
    values = {
        "id": response_id, "created_at": 1, "status": "queued", "model": "m", "instructions": None,
        "previous_response_id": None, "conversation_id": None, "store": True, "background": True, "tools": [],
        "tool_choice": "auto", "parallel_tool_calls": True, "text": {"format": {"type": "text"}},
        "truncation": "disabled", "max_output_tokens": None, "max_tool_calls": None, "temperature": 1.0,
        "top_p": 1.0, "user": None, "prompt_cache_key": None, "metadata": {"k": LOOKS_LIKE_JSON},
        "output": [], "usage": None, "error": None, "incomplete_details": None, "completed_at": None,
        "cancel_requested_at": None, "attempts": 0, "worker_id": None, "heartbeat_at": None}
    return {**values, **changes}


async def test_a_response_reads_back_as_stored_through_every_path(database: Database) -> None:
    async with database.write() as session:
        await response_store.insert_response(session, response_row("resp_1"), [])
    async with database.read() as session:
        fetched = await response_store.get_response(session, "resp_1")
    async with database.write() as session:
        [claimed] = await response_store.claim_responses(session, "me:1:aaaaaa", 1)  # RETURNING
        [in_progress] = await response_store.responses_in_progress(session)
    for row in (fetched, claimed, in_progress):
        assert (row["tool_choice"], row["metadata"]) == ("auto", {"k": LOOKS_LIKE_JSON})


async def test_an_item_found_by_id_is_decoded_once(database: Database) -> None:
    async with database.write() as session:
        await response_store.insert_response(session, response_row("resp_2"), [])
        # A JSON string as the whole stored value: the shape a second decode cannot survive.
        await session.execute(sa.insert(response_items), [
            {"id": "item_str", "created_at": 1, "response_id": "resp_2", "direction": "input",
             "type": "message", "item": "auto"},
            {"id": "item_json_text", "created_at": 1, "response_id": "resp_2", "direction": "input",
             "type": "message", "item": LOOKS_LIKE_JSON}])
    async with database.read() as session:
        found = await response_store.find_items(session, ["item_str", "item_json_text"])
    assert found == {"item_str": "auto", "item_json_text": LOOKS_LIKE_JSON}
