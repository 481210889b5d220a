"""Run rows: creation (with the effective settings resolved once), reads and cancel. The worker's
writes (claim, heartbeat, status moves, recovery) are in `run_moves`.

A run row in status `queued` IS the queue entry; `sequence` is its place in the queue.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants.errors import InvalidRequest, not_found
from assistants.protocol import run_status
from assistants.protocol.events import RunEventName as E
from assistants.store.assistants import get_assistant
from assistants.store.events import append_event, insert_events, lock_log, run_event
from assistants.store.ids import new_id, now
from assistants.store.messages import insert_messages, require_thread
from assistants.store.models import runs
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import (
    Record,
    first_record,
    record_columns,
    select_records,
    update_metadata,
)

RUN_TTL_SECONDS = 600
"""`expires_at = created_at + 600`: a run not finished by then may be expired by the worker."""
DEFAULT_TRUNCATION = {"type": "auto", "last_messages": None}


def effective_run_values(request: p.CreateRunRequest | p.CreateThreadAndRunRequest,
                         assistant: Record) -> dict[str, Any]:
    """What the run will actually use: the request's value, else the assistant's, else the default."""
    tools = p.to_json_value(request.tools) if request.tools is not None else assistant["tools"]
    tool_choice = request.tool_choice if request.tool_choice is not None else "auto"
    p.check_tool_choice(tool_choice,
                        {tool["function"]["name"] for tool in tools if tool["type"] == "function"},
                        file_search=any(tool["type"] == "file_search" for tool in tools))
    instructions = request.instructions if request.instructions is not None else assistant["instructions"]
    additional = getattr(request, "additional_instructions", None)
    # Appended after a blank line, the way a second paragraph of instructions reads.
    instructions = "\n\n".join(part for part in (instructions, additional) if part)
    return {
        "model": request.model or assistant["model"],
        "instructions": instructions,
        "additional_instructions": additional,
        "tools": tools,
        "tool_choice": p.to_json_value(tool_choice),
        "temperature": _first(request.temperature, assistant["temperature"], p.DEFAULT_TEMPERATURE),
        "top_p": _first(request.top_p, assistant["top_p"], p.DEFAULT_TOP_P),
        "response_format": p.to_json_value(
            _first(request.response_format, assistant["response_format"], "auto")),
        "parallel_tool_calls": _first(request.parallel_tool_calls, True),
        "truncation_strategy": (p.to_json_value(request.truncation_strategy)
                                if request.truncation_strategy is not None else dict(DEFAULT_TRUNCATION)),
        "max_prompt_tokens": request.max_prompt_tokens,
        "max_completion_tokens": request.max_completion_tokens,
        "metadata": request.metadata or {},
    }


def _first(*values: Any) -> Any:
    return next(value for value in values if value is not None)


async def active_run_id(session: AsyncSession, thread_id: str) -> str | None:
    return (await session.execute(sa.select(runs.c.id).where(
        runs.c.thread_id == thread_id, runs.c.status.in_(run_status.ACTIVE)).limit(1))).scalar()


async def create_run(session: AsyncSession, thread_id: str,
                     request: p.CreateRunRequest | p.CreateThreadAndRunRequest,
                     *, new_thread: Record | None = None) -> Record:
    """A `queued` run, its additional messages and its first events, in the caller's transaction.

    `new_thread` (create-and-run) puts `thread.created` first in the run's event log.
    """
    await lock_log(session)
    if new_thread is None:
        # Locked: two concurrent creates on one thread must not both pass the active-run check.
        await require_thread(session, thread_id, for_update=True)
        active = await active_run_id(session, thread_id)
        if active is not None:
            raise InvalidRequest(f"Thread {thread_id} already has an active run {active}.", param="thread_id")
    assistant = await get_assistant(session, request.assistant_id, param="assistant_id")
    values = effective_run_values(request, assistant)
    await insert_messages(session, thread_id, getattr(request, "additional_messages", None) or ())
    created_at = now()
    values.update({
        "id": new_id("run_"), "created_at": created_at, "thread_id": thread_id,
        "assistant_id": request.assistant_id, "status": "queued", "required_action": None,
        "last_error": None, "incomplete_details": None, "usage": None,
        "expires_at": created_at + RUN_TTL_SECONDS, "started_at": None, "cancelled_at": None,
        "failed_at": None, "completed_at": None, "attempts": 0,
    })
    await session.execute(sa.insert(runs), values)
    if new_thread is not None:
        await append_event(session, values, E.THREAD_CREATED, p.thread_object(new_thread))
    run = p.run_object(values)
    await insert_events(session, [run_event(values, E.RUN_CREATED, run),
                                  run_event(values, E.RUN_QUEUED, run)])
    return values


async def get_run(session: AsyncSession, thread_id: str, run_id: str) -> Record:
    """A run of this thread; a run of another thread is a 404 as well."""
    row = first_record(await session.execute(select_records(runs).where(
        runs.c.id == run_id, runs.c.thread_id == thread_id)))
    if row is None:
        raise not_found("run", run_id)
    return row


async def list_runs(session: AsyncSession, thread_id: str, page: PageRequest) -> Page:
    result = await fetch_page(session, runs, {"thread_id": thread_id}, page)
    if not result.rows:  # an empty page may mean an unknown thread: that is a 404
        await require_thread(session, thread_id)
    return result


async def update_run(session: AsyncSession, thread_id: str, run_id: str,
                     request: p.UpdateRunRequest) -> Record:
    if request.metadata is p.UNSET:
        return await get_run(session, thread_id, run_id)
    return await update_metadata(session, runs, "run", run_id, request.metadata, thread_id=thread_id)


async def cancel_run(session: AsyncSession, thread_id: str, run_id: str) -> Record:
    """queued -> cancelled at once (nothing runs it yet); in_progress / requires_action -> cancelling,
    which the worker owning it finishes (in whatever process: it watches `cancel_requested_at` and the
    `thread.run.cancelling` event). Anything else cannot be cancelled (400)."""
    await lock_log(session)
    run = await get_run(session, thread_id, run_id)
    status = run["status"]
    if status == "queued":
        changes: dict[str, Any] = {"status": "cancelled", "cancelled_at": now()}
        event = E.RUN_CANCELLED
    elif status in ("in_progress", "requires_action"):
        changes, event = {"status": "cancelling", "cancel_requested_at": time.time()}, E.RUN_CANCELLING
    else:
        raise InvalidRequest(f"Cannot cancel run with status '{status}'.", param="run_id")
    row = await update_run_columns(session, run_id, **changes)
    await append_event(session, row, event, p.run_object(row))
    return row


async def update_run_columns(session: AsyncSession, run_id: str, **columns: Any) -> Record:
    """Set columns of one run by id (status, timestamps, usage, last_error, required_action, ...).

    JSON columns take builtins or wire Structs (converted here)."""
    for name in ("required_action", "last_error", "incomplete_details", "usage"):
        if name in columns:
            columns[name] = p.to_json_value(columns[name])
    row = first_record(await session.execute(sa.update(runs).where(runs.c.id == run_id).values(columns)
                                 .returning(*record_columns(runs))))
    if row is None:
        raise not_found("run", run_id)
    return row


async def count_runs_by_status(session: AsyncSession) -> dict[str, int]:
    """How many runs are in each status (read by `/metrics` at scrape time; uses ix_runs_status)."""
    result = await session.execute(sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status))
    return {status: count for status, count in result.all()}
