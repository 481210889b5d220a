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

from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants import store
from assistants.errors import InvalidRequest
from assistants.protocol.events import RunEventName as E
from assistants.store import events as log
from assistants.store import run_moves
from assistants.store.ids import now
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
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") == "file_search":
        return "auto"  # the forced file_search call was made before the turn (Executor._with_file_search)
    if rounds_done and (tool_choice == "required" or isinstance(tool_choice, Mapping)):
        return "auto"
    return tool_choice


def step_usage(steps: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(prompt, completion) tokens the earlier tool rounds of a run used."""
    usages = [s["usage"] for s in steps if s.get("usage")]
    return sum(u["prompt_tokens"] for u in usages), sum(u["completion_tokens"] for u in usages)


async def require_action(session: AsyncSession, run: p.Run, calls: list[ToolCall], usage: p.Usage, *,
                         owner: str | None = None) -> None:
    """in_progress -> requires_action: the tool_calls step, its streamed deltas, required_action.
    The run leaves its worker: nobody decodes it until the outputs come."""
    await log.lock_log(session)
    ids = {"id": run.id, "thread_id": run.thread_id, "assistant_id": run.assistant_id}
    details = {"type": "tool_calls", "tool_calls": [
        {"id": c.id, "type": "function",
         "function": {"name": c.name, "arguments": c.arguments, "output": None}}
        for c in calls]}
    step = await store.create_step(session, ids, details)
    step = await store.update_step_columns(session, step["id"], usage=usage)
    # created / in_progress carry no calls yet: the deltas below build them (SDK accumulates deltas).
    empty = p.step_object({**step, "step_details": {"type": "tool_calls", "tool_calls": []}})
    events = [log.run_event(ids, E.STEP_CREATED, empty), log.run_event(ids, E.STEP_IN_PROGRESS, empty)]
    events += [log.run_event(ids, E.STEP_DELTA, payload) for payload in step_call_deltas(step["id"], calls)]
    required = {"type": "submit_tool_outputs",
                "submit_tool_outputs": {"tool_calls": [c.wire() for c in calls]}}
    row = await run_moves.move_run(session, run.id, "in_progress", owner=owner, status="requires_action",
                                   required_action=required, worker_id=None, heartbeat_at=None)
    await log.insert_events(session, [*events, run_moves.run_announcement(row)])


async def submit_tool_outputs(session: AsyncSession, thread_id: str, run_id: str,
                              outputs: Sequence[p.ToolOutput]) -> tuple[Mapping[str, Any], int]:
    """Check and store the outputs; the run goes back to `queued`. Returns the run row and the seq of
    the run's last event before this submission (a `stream=true` answer starts after it)."""
    await log.lock_log(session)
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
    after = await log.last_seq(session, run_id)
    by_id = {o.tool_call_id: o.output for o in outputs}
    events = []
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
        events.append(log.run_event(run, E.STEP_COMPLETED, p.step_object(updated)))
    row = await run_moves.move_run(session, run_id, "requires_action", status="queued", required_action=None)
    await log.insert_events(session, [*events, run_moves.run_announcement(row)])
    return row, after
