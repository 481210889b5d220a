"""Run step rows: written by the run worker, read through the API."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants.errors import not_found
from assistants.store.ids import new_id, now
from assistants.store.models import run_steps
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import Record, all_records, first_record, record_columns, select_records
from assistants.store.runs import get_run


async def create_step(session: AsyncSession, run: Record, step_details: p.StepDetails | dict[str, Any],
                      *, status: str = "in_progress") -> Record:
    """A step of `run` (a run record). Type follows the details: message_creation or tool_calls."""
    details = p.to_json_value(step_details)
    created_at = now()
    values = {
        "id": new_id("step_"), "created_at": created_at, "run_id": run["id"], "thread_id": run["thread_id"],
        "assistant_id": run["assistant_id"], "type": details["type"], "status": status,
        "step_details": details, "last_error": None, "usage": None, "expired_at": None,
        "cancelled_at": None, "failed_at": None,
        "completed_at": created_at if status == "completed" else None, "metadata": None,
    }
    await session.execute(sa.insert(run_steps), values)
    return values


async def update_step_columns(session: AsyncSession, step_id: str, **columns: Any) -> Record:
    """Set columns of one step by id (status, *_at, usage, last_error, step_details)."""
    for name in ("step_details", "usage", "last_error"):
        if name in columns:
            columns[name] = p.to_json_value(columns[name])
    row = first_record(await session.execute(
        sa.update(run_steps).where(run_steps.c.id == step_id).values(columns)
        .returning(*record_columns(run_steps))))
    if row is None:
        raise not_found("run step", step_id)
    return row


async def get_step(session: AsyncSession, thread_id: str, run_id: str, step_id: str) -> Record:
    row = first_record(await session.execute(select_records(run_steps).where(
        run_steps.c.id == step_id, run_steps.c.run_id == run_id, run_steps.c.thread_id == thread_id,
    )))
    if row is None:
        raise not_found("run step", step_id)
    return row


async def list_steps(session: AsyncSession, thread_id: str, run_id: str, page: PageRequest) -> Page:
    result = await fetch_page(session, run_steps, {"run_id": run_id, "thread_id": thread_id}, page)
    if not result.rows:
        await get_run(session, thread_id, run_id)  # 404 for an unknown run (or thread)
    return result


async def steps_of_run(session: AsyncSession, run_id: str, *statuses: str) -> list[Record]:
    """A run's steps (optionally only in these statuses), oldest first: the worker ends them with the run."""
    statement = select_records(run_steps).where(run_steps.c.run_id == run_id)
    if statuses:
        statement = statement.where(run_steps.c.status.in_(statuses))
    result = await session.execute(statement.order_by(run_steps.c.created_at, run_steps.c.sequence))
    return all_records(result)
