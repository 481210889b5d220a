"""All run-queue SQL: claim, cancel, expire, rewind and crash recovery. Each move is one transaction
through the event bus, so a run's new status and the events announcing it commit together.

A run row in status `queued` IS the queue entry. Claiming is one `UPDATE ... WHERE status = 'queued'`
in a write transaction: two claimers can never both get a run.

Crash recovery policy (applied once at start-up, before the worker claims anything):
* `cancelling` -> `cancelled`: the user asked to stop; the partial message is kept, `incomplete`
  (reason run_cancelled), its step `cancelled`.
* `in_progress` with `attempts < max_attempts` -> `queued` again, from the start: the partial
  assistant message and its in-progress step are deleted, and so are the events of the abandoned
  attempt (everything after its last `thread.run.in_progress`), so a replay shows only what is true
  now. (`run_events` is append-only except for this rewind.) A new `thread.run.queued` follows.
* `in_progress` with `attempts >= max_attempts` -> `failed`, `last_error` {server_error, "...
  interrupted N times"}; the partial message `incomplete` (run_failed), its step `failed`.
User messages are never touched; a run never gets two assistant messages because its partial one is
deleted before it is re-queued, and the final message is written in the run's terminal transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants.events import EventBus, Transaction
from assistants.protocol.runs import Run
from assistants.runs import state
from assistants.store.ids import now
from assistants.store.models import messages, run_events, run_steps, runs
from assistants.store.records import all_records, first_record, record_columns


def emit_run(tx: Transaction, row: Mapping[str, Any], status: str | None = None) -> None:
    tx.emit(f"thread.run.{status or row['status']}", p.run_object(row), run_id=row["id"],
            thread_id=row["thread_id"], assistant_id=row["assistant_id"])


async def claim_runs(bus: EventBus, limit: int) -> list[Run]:
    """Move up to `limit` oldest queued runs to in_progress (attempts + 1) and announce them."""
    if limit <= 0:
        return []
    current = now()
    async with bus.transaction() as tx:
        # A run past expires_at is left for the expiry sweep, never started.
        oldest = (sa.select(runs.c.id)
                  .where(runs.c.status == "queued",
                         sa.or_(runs.c.expires_at.is_(None), runs.c.expires_at > current))
                  .order_by(runs.c.sequence).limit(limit).scalar_subquery())
        result = await tx.session.execute(
            sa.update(runs)
            .where(runs.c.id.in_(oldest), runs.c.status == "queued")
            .values(status="in_progress", started_at=sa.func.coalesce(runs.c.started_at, current),
                    attempts=runs.c.attempts + 1)
            .returning(*record_columns(runs))
        )
        rows = sorted(all_records(result), key=lambda r: r["sequence"])
        for row in rows:
            emit_run(tx, row)
    return [p.run_object(row) for row in rows]


async def finish_orphaned_cancels(bus: EventBus, running: Collection[str]) -> list[str]:
    """`cancelling` runs no executor holds (e.g. cancelled while requires_action) -> `cancelled`."""
    async with bus.transaction() as tx:
        result = await tx.session.execute(
            sa.select(*record_columns(runs)).where(runs.c.status == "cancelling"))
        done = []
        for row in [r for r in all_records(result) if r["id"] not in running]:
            updated = await set_run(tx.session, row["id"], "cancelling", status="cancelled",
                                    cancelled_at=now(), expires_at=None, required_action=None)
            await end_open_steps_and_message(tx, updated, "cancelled")
            emit_run(tx, updated)
            done.append(row["id"])
    return done


async def expire_runs(bus: EventBus) -> list[str]:
    """Runs left queued / requires_action past expires_at -> expired (steps expired with them)."""
    current = now()
    async with bus.transaction() as tx:
        result = await tx.session.execute(
            sa.update(runs)
            .where(runs.c.status.in_(state.EXPIRABLE), runs.c.expires_at.is_not(None),
                   runs.c.expires_at <= current)
            .values(status="expired", required_action=None)
            .returning(*record_columns(runs))
        )
        rows = all_records(result)
        for row in rows:
            await end_open_steps_and_message(tx, row, "expired")
            emit_run(tx, row)
    return [row["id"] for row in rows]


async def rewind_run(tx: Transaction, row: Mapping[str, Any], *, count_attempt: bool) -> Mapping[str, Any]:
    """Put an interrupted in_progress run back to queued: drop its partial message, its open steps and
    the events of the abandoned attempt, then announce `thread.run.queued`."""
    session = tx.session
    run_id = row["id"]
    open_steps = all_records(await session.execute(
        sa.select(*record_columns(run_steps))
        .where(run_steps.c.run_id == run_id, run_steps.c.status == "in_progress")))
    message_ids = [s["step_details"].get("message_creation", {}).get("message_id")
                   for s in open_steps if s["step_details"].get("type") == "message_creation"]
    await session.execute(sa.delete(run_steps).where(run_steps.c.id.in_([s["id"] for s in open_steps])))
    await session.execute(sa.delete(messages).where(messages.c.id.in_([m for m in message_ids if m]),
                                                    messages.c.run_id == run_id))
    last_start = sa.select(sa.func.max(run_events.c.seq)).where(
        run_events.c.run_id == run_id, run_events.c.event == "thread.run.in_progress").scalar_subquery()
    await session.execute(sa.delete(run_events).where(run_events.c.run_id == run_id,
                                                      run_events.c.seq > sa.func.coalesce(last_start, 0)))
    values: dict[str, Any] = {"status": "queued"}
    if not count_attempt:
        values["attempts"] = runs.c.attempts - 1
    updated = await set_run(session, run_id, row["status"], **values)
    emit_run(tx, updated)
    return updated


async def recover_runs(bus: EventBus, *, max_attempts: int) -> dict[str, list[str]]:
    """Apply the crash recovery policy (module docstring). Returns run ids by outcome."""
    outcome: dict[str, list[str]] = {"cancelled": [], "requeued": [], "failed": []}
    async with bus.transaction() as tx:
        result = await tx.session.execute(
            sa.select(*record_columns(runs)).where(runs.c.status.in_(("in_progress", "cancelling")))
            .order_by(runs.c.sequence))
        for row in all_records(result):
            if row["status"] == "cancelling":
                updated = await set_run(tx.session, row["id"], "cancelling", status="cancelled",
                                         cancelled_at=now(), expires_at=None)
                await end_open_steps_and_message(tx, updated, "cancelled")
                emit_run(tx, updated)
                outcome["cancelled"].append(row["id"])
            elif row["attempts"] < max_attempts:
                await rewind_run(tx, row, count_attempt=True)
                outcome["requeued"].append(row["id"])
            else:
                error = {"code": "server_error",
                         "message": f"The server stopped while this run was in progress, "
                                    f"{row['attempts']} times; it is not retried again."}
                updated = await set_run(tx.session, row["id"], "in_progress", status="failed",
                                         failed_at=now(), last_error=error, expires_at=None)
                await end_open_steps_and_message(tx, updated, "failed", error)
                emit_run(tx, updated)
                outcome["failed"].append(row["id"])
    return outcome


async def end_open_steps_and_message(tx: Transaction, run: Mapping[str, Any], run_status: str,
                                     last_error: dict[str, Any] | None = None) -> None:
    """End a run's in-progress steps (and the message a step is creating) with the run's status."""
    session = tx.session
    current = now()
    step_status = state.STEP_STATUS_FOR_RUN[run_status]
    # cancelled_at / failed_at / expired_at / completed_at: the column is named after the status.
    step_values: dict[str, Any] = {"status": step_status, f"{step_status}_at": current}
    if step_status == "failed":
        step_values["last_error"] = last_error
    result = await session.execute(
        sa.update(run_steps).where(run_steps.c.run_id == run["id"], run_steps.c.status == "in_progress")
        .values(**step_values).returning(*record_columns(run_steps)))
    steps = all_records(result)
    message_ids = [s["step_details"].get("message_creation", {}).get("message_id") for s in steps
                   if s["step_details"].get("type") == "message_creation"]
    reason = state.MESSAGE_INCOMPLETE_REASON.get(run_status)
    if message_ids and reason:
        result = await session.execute(
            sa.update(messages).where(messages.c.id.in_(message_ids), messages.c.status == "in_progress")
            .values(status="incomplete", incomplete_at=current, incomplete_details={"reason": reason})
            .returning(*record_columns(messages)))
        for message in all_records(result):
            tx.emit("thread.message.incomplete", p.message_object(message), run_id=run["id"],
                    thread_id=run["thread_id"], assistant_id=run["assistant_id"])
    for step in steps:
        tx.emit(f"thread.run.step.{step['status']}", p.step_object(step), run_id=run["id"],
                thread_id=run["thread_id"], assistant_id=run["assistant_id"])


async def _run_row(session: AsyncSession, thread_id: str, run_id: str) -> Mapping[str, Any] | None:
    return first_record(await session.execute(
        sa.select(*record_columns(runs)).where(runs.c.id == run_id, runs.c.thread_id == thread_id)))


async def set_run(session: AsyncSession, run_id: str, expected: str | Sequence[str],
                   **values: Any) -> Mapping[str, Any]:
    """A guarded status write: it only applies while the run is still in `expected` (else it raises)."""
    allowed = (expected,) if isinstance(expected, str) else tuple(expected)
    if "status" in values:
        # Only from the expected statuses the state machine allows this move from.
        legal = tuple(current for current in allowed if state.can_move(current, values["status"]))
        if not legal:
            raise state.IllegalTransition("/".join(allowed), values["status"])
        allowed = legal
    row = first_record(await session.execute(
        sa.update(runs).where(runs.c.id == run_id, runs.c.status.in_(allowed))
        .values(**values).returning(*record_columns(runs))))
    if row is None:
        raise state.IllegalTransition("/".join(allowed) + " (changed concurrently)",
                                      str(values.get("status")))
    return row


async def run_row_by_id(session: AsyncSession, run_id: str) -> Mapping[str, Any] | None:
    return first_record(await session.execute(
        sa.select(*record_columns(runs)).where(runs.c.id == run_id)))
