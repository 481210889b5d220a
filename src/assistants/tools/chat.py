"""Tools and structured outputs in /v1/chat/completions: request checks, and the answer when the
output may be tool calls (the plain-text path stays in `assistants.api.chat`).

A turn whose output is (forced) or may be (auto, starting with `{` or `<`) calls is held back until
it ends, then parsed: calls become `message.tool_calls` / streamed `delta.tool_calls` (id and name in
the first delta of each call only) with finish_reason `tool_calls`; anything else is sent as content.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from assistants.errors import InvalidRequest
from assistants.protocol.codec import param_from_error
from assistants.protocol.tools import FunctionTool, ResponseFormat, ToolChoice
from assistants.tools.calls import ToolCall, chat_call_deltas, may_become_call, parse_tool_calls
from assistants.tools.plan import TurnPlan, plan_turn

Chunk = Callable[[dict[str, Any], str | None], str]
"""(delta, finish_reason) -> one SSE data line (a chat.completion.chunk)."""


def _convert(value: Any, type_: Any, param: str) -> Any:
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        where = param_from_error(str(exc))
        detail = str(exc).partition(" - at ")[0]
        full = f"{param}{where if where and where.startswith('[') else '.' + where if where else ''}"
        raise InvalidRequest(f"Invalid '{full}': {detail}", param=full) from None
    except InvalidRequest as exc:  # tool types we do not run
        exc.param = param
        raise


def check_tool_fields(tools: Any, tool_choice: Any, parallel: bool | None, response_format: Any) -> TurnPlan:
    """Validate tools / tool_choice / response_format (400 naming the field) and plan the turn."""
    functions = _convert(tools, list[FunctionTool], "tools") if tools else []
    choice = _convert(tool_choice, ToolChoice | None, "tool_choice")
    fmt = _convert(response_format, ResponseFormat | None, "response_format")
    if tool_choice == "required" and not functions:
        raise InvalidRequest("tool_choice 'required' needs at least one tool.", param="tool_choice")
    wire_tools = msgspec.to_builtins(functions)
    try:
        return plan_turn(wire_tools, msgspec.to_builtins(choice), parallel is not False,
                         msgspec.to_builtins(fmt))
    except ValueError as exc:
        param = "tool_choice" if "tool_choice" in str(exc) else "tools"
        raise InvalidRequest(f"{exc}.", param=param) from None


def check_tool_messages(messages: list[Any]) -> None:
    """`role: tool` needs its tool_call_id; assistant tool_calls need id and function name."""
    for i, message in enumerate(messages):
        if message.role == "tool" and not message.tool_call_id:
            raise InvalidRequest(f"messages[{i}] has role 'tool' but no 'tool_call_id'.",
                                 param=f"messages[{i}].tool_call_id")
        for j, call in enumerate(message.tool_calls or ()):
            function = call.get("function") if isinstance(call, dict) else None
            if not (isinstance(function, dict) and isinstance(function.get("name"), str) and call.get("id")):
                raise InvalidRequest(f"messages[{i}].tool_calls[{j}] needs an 'id' and a 'function' with a "
                                     "'name'.", param=f"messages[{i}].tool_calls[{j}]")


def answer(text: str, plan: TurnPlan, finish_reason: str) -> tuple[str | None, list[ToolCall] | None, str]:
    """(content, tool_calls, finish_reason) of a finished turn."""
    if plan.calls != "never" and finish_reason != "length":
        calls = parse_tool_calls(text, plan.names)
        if calls:
            return None, calls, "tool_calls"
    return text, None, finish_reason


async def stream_turn(pieces: AsyncIterator[str], plan: TurnPlan, chunk: Chunk,
                      finish_reason: Callable[[], str]) -> AsyncIterator[str]:
    """The data lines for one streamed turn after the role chunk (and before any usage chunk)."""
    held: list[str] | None = [] if plan.calls != "never" else None
    async for piece in pieces:
        if held is not None:
            held.append(piece)
            so_far = "".join(held)
            if plan.calls == "forced" or not so_far.strip() or may_become_call(so_far):
                continue
            piece, held = so_far, None
        yield chunk({"content": piece}, None)
    reason = finish_reason()
    if held is not None:
        content, calls, reason = answer("".join(held), plan, reason)
        if calls:
            for delta in chat_call_deltas(calls):
                yield chunk({"tool_calls": [delta]}, None)
        elif content:
            yield chunk({"content": content}, None)
    yield chunk({}, reason)
