"""Tools and structured outputs in /v1/chat/completions: request checks, and the streamed turn when
the output may be tool calls (held back by `holdback.CallHoldBack` until the turn ends).

Calls become `message.tool_calls` / streamed `delta.tool_calls` (id and name in the first delta of
each call only) with finish_reason `tool_calls`; anything else is sent as content.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from assistants.errors import InvalidRequest, invalid_request_from_validation
from assistants.protocol.chat import ChatFinishReason
from assistants.protocol.tools import FunctionTool, ResponseFormat, ToolChoice, check_tool_choice
from assistants.tools.calls import chat_call_deltas
from assistants.tools.holdback import CallHoldBack
from assistants.tools.plan import TurnPlan, plan_turn

Chunk = Callable[[dict[str, Any], ChatFinishReason | None], str]
"""(delta, finish_reason) -> one SSE data line (a chat.completion.chunk)."""


def _convert(value: Any, type_: Any, param: str) -> Any:
    # The chat request carries these fields loosely (`dict`); the wire types of the Assistants API
    # check them, so an error names the field the way a run's would.
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        raise invalid_request_from_validation(str(exc), within=param) from None


def check_tool_fields(tools: Any, tool_choice: Any, parallel: bool | None, response_format: Any) -> TurnPlan:
    """Validate tools / tool_choice / response_format (400 naming the field) and plan the turn."""
    functions = _convert(tools, list[FunctionTool], "tools") if tools else []
    choice = _convert(tool_choice, ToolChoice | None, "tool_choice")
    fmt = _convert(response_format, ResponseFormat | None, "response_format")
    if choice is not None:
        check_tool_choice(choice, {tool.function.name for tool in functions})
    return plan_turn(msgspec.to_builtins(functions), msgspec.to_builtins(choice), parallel is not False,
                     msgspec.to_builtins(fmt))


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


async def stream_turn(pieces: AsyncIterator[str], plan: TurnPlan, chunk: Chunk,
                      finish_reason: Callable[[], ChatFinishReason]) -> AsyncIterator[str]:
    """The data lines for one streamed turn after the role chunk (and before any usage chunk)."""
    holdback = CallHoldBack(plan)
    async for piece in pieces:
        text = holdback.feed(piece)
        if text is not None:
            yield chunk({"content": text}, None)
    rest = holdback.finish(finish_reason())
    if rest.calls:
        for delta in chat_call_deltas(rest.calls):
            yield chunk({"tool_calls": [delta]}, None)
    elif rest.content:
        yield chunk({"content": rest.content}, None)
    yield chunk({}, rest.finish_reason)
