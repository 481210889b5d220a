"""The worker's run writes: claim, heartbeat, the status moves, and recovery from dead workers.

Each function runs in the caller's write transaction and appends the events that announce what it
wrote (so a run's new status and its event commit together). A run that is `in_progress` or
`cancelling` belongs to the worker in `worker_id`, which refreshes `heartbeat_at`; every move a
worker makes on its own runs is guarded by that ownership, so a worker that was presumed dead and
comes back can never write over the run another worker took over.

Dead workers and the attempt rule (`recover_stale_runs`). A worker is dead by `store.leases`' rule
(its runs' heartbeat is older than the timeout, or it ran on this host and its pid is gone). Its
`cancelling` runs end `cancelled`; its `in_progress` runs go back to `queued` from the start (the
partial message, open steps and the abandoned attempt's events are dropped). Whether the death
counts against a run:
* it died decoding several runs: nobody can tell which one (if any) killed it, so none is charged;
  each is marked `isolated` and from now on decoded alone (a worker claims it only when idle, and
  claims nothing beside it);
* it died decoding one run alone: that run's `crashes` goes up, and at `max_crashes` it ends
  `failed`. A run that kills every worker it touches is thus charged from its second try on, and
  fails after `max_crashes` solo deaths; a random death charges a run only if it strikes while that
  run is decoded alone, and it takes `max_crashes` such strikes on the same run to fail it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants.protocol import run_status
from assistants.protocol.events import RunEventName as E
from assistants.store import direct
from assistants.store.events import PendingEvent, delete_abandoned_attempt, insert_events, lock_log, run_event
from assistants.store.ids import now
from assistants.store.leases import owner_is_dead
from assistants.store.messages import create_run_message, update_message_columns
from assistants.store.models import messages, run_steps, runs
from assistants.store.records import Record, all_records, first_record, record_columns
from assistants.store.steps import create_step, update_step_columns


def run_announcement(row: Mapping[str, Any]) -> PendingEvent:
    return run_event(row, E.for_run(row["status"]), p.run_object(row))


async def move_run(session: AsyncSession, run_id: str, expected: str | Sequence[str], *,
                   owner: str | None = None, **values: Any) -> Record:
    """A guarded status write: it applies only while the run is still in `expected` (and, with
    `owner`, still that worker's); otherwise it raises IllegalTransition."""
    allowed = (expected,) if isinstance(expected, str) else tuple(expected)
    if "status" in values:
        legal = tuple(current for current in allowed if run_status.can_move(current, values["status"]))
        if not legal:
            raise run_status.IllegalTransition("/".join(allowed), values["status"])
        allowed = legal
    for name in ("required_action", "last_error", "incomplete_details", "usage"):
        if name in values:
            values[name] = p.to_json_value(values[name])
    statement = sa.update(runs).where(runs.c.id == run_id, runs.c.status.in_(allowed))
    if owner is not None:
        statement = statement.where(runs.c.worker_id == owner)
    row = first_record(await session.execute(statement.values(**values).returning(*record_columns(runs))))
    if row is None:
        raise run_status.IllegalTransition("/".join(allowed) + " (changed concurrently)",
                                      str(values.get("status")))
    return row


async def run_row(session: AsyncSession, run_id: str) -> Record | None:
    return first_record(await session.execute(sa.select(*record_columns(runs)).where(runs.c.id == run_id)))


# -- claim and heartbeat ---------------------------------------------------------------------------


async def claim_runs(session: AsyncSession, worker_id: str, limit: int, *, busy: int = 0) -> list[Record]:
    """Claim up to `limit` of the oldest queued runs for `worker_id` (in_progress, attempts + 1).

    `busy` is how many runs the worker decodes now. An `isolated` run is claimed only by an idle
    worker, and alone; one at the head of the queue stops the claim, so it is not starved.
    PostgreSQL skips rows another claimer holds (SKIP LOCKED); SQLite's writer lock serialises claims.
    """
    if limit <= 0:
        return []
    current = now()
    await lock_log(session)
    candidates = (await session.execute(
        sa.select(runs.c.id, runs.c.isolated)
        .where(runs.c.status == "queued", sa.or_(runs.c.expires_at.is_(None), runs.c.expires_at > current))
        .order_by(runs.c.sequence).limit(limit).with_for_update(skip_locked=True))).all()
    take: list[str] = []
    for run_id, isolated in candidates:
        if isolated:
            if not take and busy == 0:
                take.append(run_id)
            break
        take.append(run_id)
    if not take:
        return []
    result = await session.execute(
        sa.update(runs).where(runs.c.id.in_(take), runs.c.status == "queued")
        .values(status="in_progress", started_at=sa.func.coalesce(runs.c.started_at, current),
                attempts=runs.c.attempts + 1, worker_id=worker_id, heartbeat_at=time.time(),
                cancel_requested_at=None)
        .returning(*record_columns(runs)))
    rows = sorted(all_records(result), key=lambda r: r["sequence"])
    await insert_events(session, [run_announcement(row) for row in rows])
    return rows


async def heartbeat(session: AsyncSession, worker_id: str, run_ids: Collection[str]) -> dict[str, bool]:
    """Refresh the heartbeat of the runs `worker_id` decodes; returns those still its own, each with
    whether a cancel was requested. One missing from the answer was taken from it. A run it owns but
    no longer decodes (its executor crashed) is not refreshed: it goes stale and is recovered."""
    if not run_ids:
        return {}
    result = await session.execute(
        sa.update(runs).where(runs.c.worker_id == worker_id, runs.c.status.in_(run_status.OWNED),
                              runs.c.id.in_(list(run_ids)))
        .values(heartbeat_at=time.time()).returning(runs.c.id, runs.c.cancel_requested_at))
    return {run_id: requested is not None for run_id, requested in result.all()}


# -- a run's message, its end ----------------------------------------------------------------------


async def _require_owner(session: AsyncSession, run_id: str, owner: str | None, adding: str) -> None:
    """With `owner`: the run must still be that worker's (row locked until commit), else
    IllegalTransition; a worker that was presumed dead never adds to a run another worker re-runs."""
    if owner is None:
        return
    current = (await session.execute(sa.select(runs.c.status, runs.c.worker_id)
                                     .where(runs.c.id == run_id).with_for_update())).first()
    if current is None or current.worker_id != owner or current.status not in run_status.OWNED:
        raise run_status.IllegalTransition(current.status if current else "deleted", adding)


async def open_message(session: AsyncSession, run: Mapping[str, Any], *,
                       owner: str | None = None) -> tuple[Record, Record]:
    """The assistant message a run writes (in_progress, no content) and its message_creation step.
    With `owner`, only while the run is still that worker's (else IllegalTransition): a worker that
    was presumed dead never adds a message to a run another worker re-runs."""
    await lock_log(session)
    await _require_owner(session, run["id"], owner, "a new message")
    message = await create_run_message(session, thread_id=run["thread_id"], run_id=run["id"],
                                       assistant_id=run["assistant_id"])
    details = {"type": "message_creation", "message_creation": {"message_id": message["id"]}}
    step = await create_step(session, run, details)
    step_wire, message_wire = p.step_object(step), p.message_object(message)
    await insert_events(session, [run_event(run, E.STEP_CREATED, step_wire),
                                  run_event(run, E.STEP_IN_PROGRESS, step_wire),
                                  run_event(run, E.MESSAGE_CREATED, message_wire),
                                  run_event(run, E.MESSAGE_IN_PROGRESS, message_wire)])
    return message, step


async def record_file_search(session: AsyncSession, run: Mapping[str, Any], details: Mapping[str, Any],
                             shown: Mapping[str, Any], *, owner: str | None = None) -> Record:
    """The run's file_search `tool_calls` step, completed at once (`details` as stored, with result
    content; `shown` as its events carry it, without). With `owner`, only while the run is that worker's."""
    await lock_log(session)
    await _require_owner(session, run["id"], owner, "a file_search step")
    step = await create_step(session, run, dict(details), status="completed")
    wire = p.step_object({**step, "step_details": dict(shown)})
    await insert_events(session, [run_event(run, E.STEP_CREATED, wire),
                                  run_event(run, E.STEP_IN_PROGRESS, wire),
                                  run_event(run, E.STEP_COMPLETED, wire)])
    return step


FINAL_FROM = ("in_progress", "cancelling")
"""A run ends from in_progress, or from cancelling when a cancel raced with its end."""


async def finish_run(session: AsyncSession, run: Mapping[str, Any], status: str, *,
                     opened: tuple[str, str] | None, text: str, usage: p.Usage, run_usage: p.Usage,
                     owner: str | None = None, annotations: Sequence[Mapping[str, Any]] = (),
                     **run_values: Any) -> Record:
    """The run's terminal transaction: its message's text (and annotations, e.g. file citations) and
    status, its step, its usage and status."""
    await lock_log(session)
    current = now()
    events: list[PendingEvent] = []
    if opened is not None:
        message_id, step_id = opened
        reason = run_status.MESSAGE_INCOMPLETE_REASON.get(status)
        content = [{"type": "text", "text": {"value": text, "annotations": list(annotations)}}]
        if reason:
            message = await update_message_columns(
                session, message_id, content=content, status="incomplete", incomplete_at=current,
                incomplete_details={"reason": reason})
        else:
            message = await update_message_columns(session, message_id, content=content, status="completed",
                                                   completed_at=current)
        events.append(run_event(run, E.for_message(message["status"]), p.message_object(message)))
        step_status = run_status.STEP_STATUS_FOR_RUN[status]
        step = await update_step_columns(session, step_id, status=step_status, usage=usage,
                                         **{f"{step_status}_at": current})
        events.append(run_event(run, E.for_step(step_status), p.step_object(step)))
    row = await move_run(session, run["id"], FINAL_FROM, owner=owner, status=status, usage=run_usage,
                         expires_at=None, **run_values)
    events.append(run_announcement(row))
    await insert_events(session, events)
    return row


async def fail_run(session: AsyncSession, run_id: str, error: Mapping[str, Any], *,
                   owner: str | None = None, expected: Sequence[str] = FINAL_FROM) -> Record | None:
    """-> failed with `last_error`; its open step and message fail with it. None when the run is no
    longer in `expected` (or no longer `owner`'s): somebody else ended it."""
    await lock_log(session)
    try:
        row = await move_run(session, run_id, expected, owner=owner, status="failed", failed_at=now(),
                             last_error=dict(error), expires_at=None)
    except run_status.IllegalTransition:
        return None
    await end_run_with(session, row, "failed", dict(error))
    return row


async def end_run_with(session: AsyncSession, run: Mapping[str, Any], status: str,
                       last_error: dict[str, Any] | None = None) -> None:
    """After a run moved to `status`: end its in-progress steps (and the message a step is
    creating) the same way, then announce the run."""
    current = now()
    step_status = run_status.STEP_STATUS_FOR_RUN[status]
    # cancelled_at / failed_at / expired_at / completed_at: the column is named after the status.
    step_values: dict[str, Any] = {"status": step_status, f"{step_status}_at": current}
    if step_status == "failed":
        step_values["last_error"] = last_error
    result = await session.execute(
        sa.update(run_steps).where(run_steps.c.run_id == run["id"], run_steps.c.status == "in_progress")
        .values(**step_values).returning(*record_columns(run_steps)))
    steps = all_records(result)
    events: list[PendingEvent] = []
    message_ids = _created_message_ids(steps)
    reason = run_status.MESSAGE_INCOMPLETE_REASON.get(status)
    if message_ids and reason:
        result = await session.execute(
            sa.update(messages).where(messages.c.id.in_(message_ids), messages.c.status == "in_progress")
            .values(status="incomplete", incomplete_at=current, incomplete_details={"reason": reason})
            .returning(*record_columns(messages)))
        events += [run_event(run, E.MESSAGE_INCOMPLETE, p.message_object(m)) for m in all_records(result)]
    events += [run_event(run, E.for_step(step["status"]), p.step_object(step)) for step in steps]
    events.append(run_announcement(run))
    await insert_events(session, events)


def _created_message_ids(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    return [s["step_details"].get("message_creation", {}).get("message_id") for s in steps
            if s["step_details"].get("type") == "message_creation"]


async def cancel_owned(session: AsyncSession, run_id: str, owner: str | None = None) -> Record | None:
    """cancelling -> cancelled for a run nobody will decode on (None if it is no longer cancelling)."""
    await lock_log(session)
    try:
        row = await move_run(session, run_id, "cancelling", owner=owner, status="cancelled",
                             cancelled_at=now(), expires_at=None, required_action=None)
    except run_status.IllegalTransition:
        return None
    await end_run_with(session, row, "cancelled")
    return row


async def requeue_run(session: AsyncSession, run: Mapping[str, Any], *, owner: str | None = None,
                      count_attempt: bool = True, **values: Any) -> Record:
    """Put an interrupted in_progress run back to queued, from the start: drop its partial message,
    its open steps and the events of the abandoned attempt, then announce `thread.run.queued`."""
    await lock_log(session)
    run_id = run["id"]
    open_steps = all_records(await session.execute(
        sa.select(*record_columns(run_steps))
        .where(run_steps.c.run_id == run_id, run_steps.c.status == "in_progress")))
    await session.execute(sa.delete(run_steps).where(run_steps.c.id.in_([s["id"] for s in open_steps])))
    await session.execute(sa.delete(messages).where(
        messages.c.id.in_([m for m in _created_message_ids(open_steps) if m]), messages.c.run_id == run_id))
    await delete_abandoned_attempt(session, run_id)
    if not count_attempt:
        values["attempts"] = runs.c.attempts - 1
    updated = await move_run(session, run_id, "in_progress", owner=owner, status="queued", worker_id=None,
                             heartbeat_at=None, **values)
    await insert_events(session, [run_announcement(updated)])
    return updated


_GROW_MESSAGE = (sa.update(messages)
                 .where(messages.c.id == sa.bindparam("message_id"), messages.c.status == "in_progress")
                 .values(content=sa.bindparam("content", type_=messages.c.content.type)))
"""Every flush runs it for each streaming message: prebuilt, for the direct driver path."""


def partial_text_write(message_id: str, text: str) -> Callable[[AsyncSession], Any]:
    content = [{"type": "text", "text": {"value": text, "annotations": []}}]

    async def write(session: AsyncSession) -> None:
        await direct.execute(session, _GROW_MESSAGE, {"message_id": message_id, "content": content})
    return write


# -- sweeps ----------------------------------------------------------------------------------------


async def recover_stale_runs(session: AsyncSession, *, me: str, stale_after: float,
                             max_crashes: int) -> dict[str, list[str]]:
    """Apply the dead-worker rule (module docstring) to runs whose owner is dead. Returns run ids by
    outcome. Runs whose owner heartbeats are never touched."""
    await lock_log(session)
    outcome: dict[str, list[str]] = {"cancelled": [], "requeued": [], "failed": []}
    owned = all_records(await session.execute(
        sa.select(*record_columns(runs)).where(runs.c.status.in_(run_status.OWNED)).order_by(runs.c.sequence)))
    stale_before = time.time() - stale_after

    def dead_owner(row: Record) -> bool:
        return owner_is_dead(row["worker_id"], row["heartbeat_at"], me=me, stale_before=stale_before)

    dead = {row["worker_id"] for row in owned if dead_owner(row)}
    held: dict[str | None, int] = {}
    for row in owned:
        held[row["worker_id"]] = held.get(row["worker_id"], 0) + 1
    candidates = [row["id"] for row in owned if row["worker_id"] in dead]
    if not candidates:
        return outcome
    # On PostgreSQL the read above is only a snapshot: the owner may have heartbeated since. Lock the
    # candidates, read their latest versions and judge again; a row another transaction holds (a
    # heartbeat in flight: its owner lives) is skipped, so recovery never waits on, nor deadlocks
    # with, a heartbeat. SQLite's write lock already made the snapshot current (no FOR UPDATE there).
    locked = all_records(await session.execute(
        sa.select(*record_columns(runs)).where(runs.c.id.in_(candidates), runs.c.status.in_(run_status.OWNED))
        .order_by(runs.c.sequence).with_for_update(skip_locked=True)))
    for row in locked:
        owner = row["worker_id"]
        if owner not in dead or not dead_owner(row):
            continue
        if row["status"] == "cancelling":
            if await cancel_owned(session, row["id"]) is not None:
                outcome["cancelled"].append(row["id"])
            continue
        alone = held[owner] == 1
        crashes = row["crashes"] + (1 if alone else 0)
        if crashes >= max_crashes:
            error = {"code": "server_error",
                     "message": f"The worker stopped {crashes} times while decoding this run alone; "
                                "it is not retried again."}
            await fail_run(session, row["id"], error, expected=("in_progress",))
            outcome["failed"].append(row["id"])
        else:
            await requeue_run(session, row, crashes=crashes, isolated=True)
            outcome["requeued"].append(row["id"])
    return outcome


async def finish_orphaned_cancels(session: AsyncSession, *, me: str | None = None,
                                  mine: Collection[str] = ()) -> list[str]:
    """`cancelling` runs no worker decodes (cancelled while requires_action: no owner) -> `cancelled`.
    `mine` are this worker's runs it will not decode any more (shutdown)."""
    rows = all_records(await session.execute(
        sa.select(runs.c.id, runs.c.worker_id).where(runs.c.status == "cancelling")))
    done = []
    for row in rows:
        if row["worker_id"] is None or (row["worker_id"] == me and row["id"] in mine):
            if await cancel_owned(session, row["id"]) is not None:
                done.append(row["id"])
    return done


async def expire_runs(session: AsyncSession) -> list[str]:
    """Runs left queued / requires_action past expires_at -> expired (steps expired with them)."""
    current = now()
    await lock_log(session)
    result = await session.execute(
        sa.update(runs)
        .where(runs.c.status.in_(run_status.EXPIRABLE), runs.c.expires_at.is_not(None),
               runs.c.expires_at <= current)
        .values(status="expired", required_action=None, worker_id=None)
        .returning(*record_columns(runs)))
    rows = all_records(result)
    for row in rows:
        await end_run_with(session, row, "expired")
    return [row["id"] for row in rows]
