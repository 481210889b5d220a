"""One response's generation -> its output items and final status, event by event.

Output that is (forced) or may be (`auto`, starting with `{` or `<`) tool calls is held back until the
turn ends, then parsed, exactly as runs and chat completions do (`assistants.tools.plan`): calls
become `function_call` items, anything else streams as the message text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from assistants.protocol.responses import ResponseUsage
from assistants.responses.events import ResponseEvents
from assistants.store.ids import now
from assistants.tools.calls import may_become_call, parse_tool_calls
from assistants.tools.plan import TurnPlan


class Generation(Protocol):
    """What is read of `assistants.inference.Generation`."""

    result: Any

    def __aiter__(self) -> AsyncIterator[str]: ...
    def cancel(self) -> None: ...


@dataclass
class Outcome:
    status: str = "in_progress"
    final: dict[str, Any] = field(default_factory=dict)
    """The columns that change at the end: status, usage, incomplete_details, error, completed_at."""


async def decode(generation: Generation, plan: TurnPlan, events: ResponseEvents, outcome: Outcome, *,
                 max_tool_calls: int | None = None,
                 cancelled: Callable[[], bool] = lambda: False,
                 retry_on: tuple[type[Exception], ...] = ()) -> AsyncIterator[None]:
    """Drive `events` from `generation`; yields after each decoded piece (a caller streaming or
    persisting the events takes them then). At the end `outcome` holds the final status and the
    terminal event has been emitted. A generation failure ends the response `failed`, except the
    `retry_on` ones, which are raised for the caller to retry."""
    held: list[str] | None = [] if plan.calls != "never" else None
    stopped = False
    try:
        async for piece in generation:
            if cancelled():
                stopped = True
                generation.cancel()
                async for _ in generation:  # the engine drops it within a step; then `.result` is real
                    pass
                break
            if held is not None:
                held.append(piece)
                so_far = "".join(held)
                if plan.calls == "forced" or not so_far.strip() or may_become_call(so_far):
                    continue
                piece, held = so_far, None  # plain text after all: stream it from here on
            events.text_delta(piece)
            yield
    except Exception as exc:
        if isinstance(exc, retry_on):
            raise  # the caller re-queues the response (a background one whose engine went away)
        _end(events, outcome, "failed", error={"code": "server_error",
                                                "message": f"The model failed while generating: {exc}"})
        return
    result = generation.result
    finish = "cancelled" if stopped or result is None else result.finish_reason
    if finish == "cancelled":
        status = "cancelled"
    elif finish == "length":
        status = "incomplete"
    else:
        status = "completed"
    if held is not None:
        text = "".join(held)
        calls = parse_tool_calls(text, plan.names) if status == "completed" else None
        if calls:
            for call in calls[:max_tool_calls] if max_tool_calls else calls:
                events.function_call(call)
        elif text:
            events.text_delta(text)
    if not events.output:
        events.empty_message("completed" if status == "completed" else "incomplete")
    usage = (ResponseUsage.of(result.prompt_tokens, result.completion_tokens,
                              getattr(result, "cached_tokens", 0)) if result is not None else None)
    final: dict[str, Any] = {"usage": msgspec.to_builtins(usage)}
    if status == "incomplete":
        final["incomplete_details"] = {"reason": "max_output_tokens"}
    if status == "completed":
        final["completed_at"] = now()
    _end(events, outcome, status, **final)
    yield


def _end(events: ResponseEvents, outcome: Outcome, status: str, **final: Any) -> None:
    events.finish(status, **final)
    outcome.status = status
    outcome.final = {"status": status, **final}
