"""Function tools inside runs: the prompt's tool turns, the requires_action write, and submit_tool_outputs.

A run that calls tools goes `in_progress -> requires_action` with a `tool_calls` step (in_progress,
outputs null) whose call ids are the ids in `required_action`. `submit_tool_outputs` fills each
output, completes the step and puts the run back to `queued`; the next turn's prompt then carries the
calls and their results (`tool_turns`), in the template's tool format.

A forced tool_choice (`required` or a named function) forces the run's FIRST model turn only: after
tool outputs come back the run continues with `auto`, so it can answer with the results instead of
being made to call tools forever. A run may make at most `--max-tool-rounds` rounds of calls; the turn
after the last one is decoded with tool_choice `none`, so it ends with a message. Small local models
otherwise can (and under greedy decoding, some prompts do) call the same tool round after round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants import store
from assistants.errors import InvalidRequest
from assistants.events import Transaction
from assistants.runs import queue
from assistants.store.ids import now
from assistants.store.models import run_events
from assistants.tools.calls import ToolCall, step_call_deltas


async def tool_steps(session: AsyncSession, run_id: str) -> list[Mapping[str, Any]]:
    """The run's function tool_calls steps with their outputs in (completed), oldest first (a
    file_search step is no round of calls: see assistants.file_search)."""
    return [s for s in await store.steps_of_run(session, run_id, "completed") if s["type"] == "tool_calls"
            and all(call["type"] == "function" for call in s["step_details"]["tool_calls"])]


def tool_turns(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages for completed tool rounds: the assistant's calls, then one tool message each."""
    messages: list[dict[str, Any]] = []
    for step in steps:
        calls = step["step_details"]["tool_calls"]
        messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
            for c in calls]})
        for call in calls:
            messages.append({"role": "tool", "tool_call_id": call["id"], "name": call["function"]["name"],
                             "content": call["function"].get("output") or ""})
    return messages


def turn_tool_choice(tool_choice: Any, rounds_done: int, max_rounds: int) -> Any:
    """The run's tool_choice for this turn (a forced choice only forces the first turn; after
    max_rounds rounds of calls the model must answer)."""
    if rounds_done >= max_rounds:
        return "none"
    if rounds_done and (tool_choice == "required" or isinstance(tool_choice, Mapping)):
        return "auto"
    return tool_choice


def step_usage(steps: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(prompt, completion) tokens the earlier tool rounds of a run used."""
    usages = [s["usage"] for s in steps if s.get("usage")]
    return sum(u["prompt_tokens"] for u in usages), sum(u["completion_tokens"] for u in usages)


async def require_action(tx: Transaction, run: p.Run, calls: list[ToolCall], usage: dict[str, int]) -> None:
    """in_progress -> requires_action: the tool_calls step, its streamed deltas, required_action."""
    ids = {"run_id": run.id, "thread_id": run.thread_id, "assistant_id": run.assistant_id}
    details = {"type": "tool_calls", "tool_calls": [
        {"id": c.id, "type": "function",
         "function": {"name": c.name, "arguments": c.arguments, "output": None}}
        for c in calls]}
    step = await store.create_step(tx.session, ids | {"id": run.id}, details)
    step = await store.update_step_columns(tx.session, step["id"], usage=usage)
    # created / in_progress carry no calls yet: the deltas below build them (SDK accumulates deltas).
    empty = p.step_object({**step, "step_details": {"type": "tool_calls", "tool_calls": []}})
    tx.emit("thread.run.step.created", empty, **ids)
    tx.emit("thread.run.step.in_progress", empty, **ids)
    for payload in step_call_deltas(step["id"], calls):
        tx.emit("thread.run.step.delta", payload, **ids)
    required = {"type": "submit_tool_outputs",
                "submit_tool_outputs": {"tool_calls": [c.wire() for c in calls]}}
    row = await queue.set_run(tx.session, run.id, "in_progress", status="requires_action",
                              required_action=required)
    queue.emit_run(tx, row)


async def submit_tool_outputs(tx: Transaction, thread_id: str, run_id: str,
                              outputs: Sequence[p.ToolOutput]) -> tuple[Mapping[str, Any], int]:
    """Check and store the outputs; the run goes back to `queued`. Returns the run row and the seq of
    the run's last event before this submission (a `stream=true` answer starts after it)."""
    session = tx.session
    run = await store.get_run(session, thread_id, run_id)
    if run["status"] != "requires_action":
        raise InvalidRequest(f"Runs in status '{run['status']}' do not accept tool outputs.", param="run_id")
    pending = [c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]]
    given = [o.tool_call_id for o in outputs]
    missing = [c for c in pending if c not in given]
    unknown = [c for c in given if c not in pending]
    if missing or unknown or len(set(given)) != len(given):
        problems = []
        if missing:
            problems.append(f"missing outputs for {', '.join(missing)}")
        if unknown:
            problems.append(f"no pending tool call has the id {', '.join(unknown)}")
        if len(set(given)) != len(given):
            problems.append("a tool_call_id is given more than once")
        raise InvalidRequest("Tool outputs must answer every pending tool call exactly once: "
                             + "; ".join(problems) + ".", param="tool_outputs")
    after = (await session.execute(sa.select(sa.func.coalesce(sa.func.max(run_events.c.seq), 0))
                                   .where(run_events.c.run_id == run_id))).scalar_one()
    by_id = {o.tool_call_id: o.output for o in outputs}
    ids = {"run_id": run_id, "thread_id": thread_id, "assistant_id": run["assistant_id"]}
    current = now()
    for step in await store.steps_of_run(session, run_id, "in_progress"):
        if step["type"] != "tool_calls":
            continue
        details = dict(step["step_details"])
        details["tool_calls"] = [
            {**c, "function": {**c["function"], "output": by_id.get(c["id"], c["function"].get("output"))}}
            for c in details["tool_calls"]]
        updated = await store.update_step_columns(session, step["id"], step_details=details,
                                                  status="completed", completed_at=current)
        tx.emit("thread.run.step.completed", p.step_object(updated), **ids)
    row = await queue.set_run(session, run_id, "requires_action", status="queued", required_action=None)
    queue.emit_run(tx, row)
    return row, int(after)
