"""Anthropic's Messages API over the chat serving path: its messages and tools become the chat
template's messages and a `TurnPlan` (the same tools prompt and forced-call grammar chat completions
use), and the turn's output becomes content blocks, whole or as the Messages stream's events.

Tool calls are held back by the rule chat completions follow (`tools.holdback.CallHoldBack`): a
forced call is held whole, `auto` output from its first visible character when that is `{` or `<`.
Held output that parses as calls becomes `tool_use` blocks (opening block, one `input_json_delta`,
stop), anything else one text block.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from assistants.errors import APIError, InvalidRequest, anthropic_envelope
from assistants.inference import Generation, GenerationResult, SamplingParams
from assistants.protocol.anthropic import (
    AnthropicMessage,
    AnthropicUsage,
    ContentBlock,
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    CountTokensRequest,
    InputJSONDelta,
    MessageDelta,
    MessageDeltaBody,
    MessageDeltaUsage,
    MessagesRequest,
    MessageStart,
    MessageStop,
    Ping,
    StopReason,
    StreamEvent,
    TextBlock,
    TextBlockParam,
    TextDelta,
    ToolChoiceAny,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolResultBlockParam,
    ToolUseBlock,
    ToolUseBlockParam,
)
from assistants.protocol.codec import encoder
from assistants.serving.chat import finish_reason
from assistants.serving.sampling import to_sampling_params
from assistants.tools.calls import ToolCall
from assistants.tools.chat import check_tool_fields
from assistants.tools.holdback import CallHoldBack, TurnOutput, parse_turn
from assistants.tools.plan import TurnPlan

log = logging.getLogger("assistants.serving.anthropic")


def message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


# -- request -> chat turn ------------------------------------------------------------------------


def plan_of(request: CountTokensRequest) -> TurnPlan:
    """Anthropic's tools and tool_choice as chat completions' (`any` is `required`), planned alike."""
    tools = [{"type": "function", "function": {"name": tool.name, "parameters": tool.input_schema,
                                               **({"description": tool.description} if tool.description
                                                  else {})}}
             for tool in request.tools or ()]
    choice = request.tool_choice
    wire_choice: Any = "auto"
    if isinstance(choice, ToolChoiceAny):
        wire_choice = "required"
    elif isinstance(choice, ToolChoiceTool):
        wire_choice = {"type": "function", "function": {"name": choice.name}}
    elif isinstance(choice, ToolChoiceNone):
        wire_choice = "none"
    if not tools and not isinstance(choice, ToolChoiceNone | None):
        raise InvalidRequest("'tool_choice' needs at least one tool in 'tools'.", param="tool_choice")
    parallel = not (choice is not None and getattr(choice, "disable_parallel_tool_use", None))
    return check_tool_fields(tools or None, wire_choice if tools else None, parallel, None)


def chat_messages(request: CountTokensRequest) -> list[dict[str, Any]]:
    """The conversation as the chat template's messages: `tool_use` blocks become the assistant's
    `tool_calls`, `tool_result` blocks `role: tool` messages (before the user's own text)."""
    if not request.messages:
        raise InvalidRequest("'messages' must contain at least one message.", param="messages")
    out: list[dict[str, Any]] = []
    system = _text(request.system)
    if system:
        out.append({"role": "system", "content": system})
    called: set[str] = set()
    for i, message in enumerate(request.messages):
        if isinstance(message.content, str):
            out.append({"role": message.role, "content": message.content})
            continue
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for j, block in enumerate(message.content):
            where = f"messages[{i}].content[{j}]"
            if isinstance(block, TextBlockParam):
                texts.append(block.text)
            elif isinstance(block, ToolUseBlockParam):
                if message.role != "assistant":
                    raise InvalidRequest(f"{where}: 'tool_use' blocks belong to assistant messages.",
                                         param=where)
                called.add(block.id)
                arguments = encoder.encode(block.input).decode()
                calls.append({"id": block.id, "type": "function",
                              "function": {"name": block.name, "arguments": arguments}})
            elif isinstance(block, ToolResultBlockParam):
                if message.role != "user":
                    raise InvalidRequest(f"{where}: 'tool_result' blocks belong to user messages.",
                                         param=where)
                if block.tool_use_id not in called:
                    raise InvalidRequest(f"{where}: 'tool_use_id' {block.tool_use_id!r} answers no earlier "
                                         "'tool_use' block.", param=f"{where}.tool_use_id")
                result = _text(block.content)
                out.append({"role": "tool", "tool_call_id": block.tool_use_id,
                            "content": f"Error: {result}" if block.is_error else result})
        text = "\n".join(t for t in texts if t)
        if calls:
            out.append({"role": "assistant", "content": text or None, "tool_calls": calls})
        elif text:
            out.append({"role": message.role, "content": text})
        elif not any(isinstance(block, ToolResultBlockParam) for block in message.content):
            raise InvalidRequest(f"messages[{i}]: the content must not be empty.",
                                 param=f"messages[{i}].content")
    return out


def sampling_params(request: MessagesRequest, plan: TurnPlan) -> SamplingParams:
    return to_sampling_params(request.temperature, request.top_p, top_k=request.top_k,
                              max_tokens=request.max_tokens, stop=request.stop_sequences,
                              grammar=plan.grammar)


def _text(content: str | list[TextBlockParam] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(block.text for block in content)


# -- chat turn -> Messages answer ----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    content: list[ContentBlock]
    stop_reason: StopReason
    stop_sequence: str | None


def answer_of(text: str, plan: TurnPlan, result: GenerationResult) -> Answer:
    """The content blocks and stop reason of a finished turn."""
    return _answer(parse_turn(text, plan, finish_reason(result)), result)


def _answer(output: TurnOutput, result: GenerationResult) -> Answer:
    if output.calls:
        return Answer([tool_use_block(call) for call in output.calls], "tool_use", None)
    blocks: list[ContentBlock] = [TextBlock(output.content)] if output.content else []
    reason, stop_sequence = stop_reason(result)
    return Answer(blocks, reason, stop_sequence)


def stop_reason(result: GenerationResult) -> tuple[StopReason, str | None]:
    if result.finish_reason == "length":
        return "max_tokens", None
    if result.stop_sequence is not None:
        return "stop_sequence", result.stop_sequence
    return "end_turn", None


def tool_use_block(call: ToolCall) -> ToolUseBlock:
    # Anthropic's ids read `toolu_...`; the call parser's `call_...` is the same random part.
    return ToolUseBlock(f"toolu_{call.id.removeprefix('call_')}", call.name,
                        msgspec.json.decode(call.arguments))


def message(id_: str, model: str, answer: Answer, result: GenerationResult) -> AnthropicMessage:
    return AnthropicMessage(id=id_, model=model, content=answer.content, stop_reason=answer.stop_reason,
                            stop_sequence=answer.stop_sequence,
                            usage=AnthropicUsage(result.prompt_tokens, result.completion_tokens))


# -- the stream ----------------------------------------------------------------------------------


class StreamFrame(NamedTuple):
    """One server-sent event of the Messages stream (the HTTP layer frames it)."""

    event: str
    data: str


def _event(event: StreamEvent | Any) -> StreamFrame:
    return StreamFrame(str(event.__struct_config__.tag), encoder.encode(event).decode())


async def stream_events(generation: Generation, plan: TurnPlan, id_: str, model: str,
                        prompt_tokens: int) -> AsyncIterator[StreamFrame]:
    """message_start, ping, the content blocks (start, deltas, stop), message_delta, message_stop.
    Leaving early (client gone) cancels the generation; a failure ends the stream with `error`."""
    async with generation:
        start = AnthropicMessage(id=id_, model=model, content=[], stop_reason=None, stop_sequence=None,
                                 usage=AnthropicUsage(prompt_tokens, 0))
        yield _event(MessageStart(start))
        yield _event(Ping())
        holdback = CallHoldBack(plan)
        index = 0
        text_open = False
        try:
            async for piece in generation:
                released = holdback.feed(piece)
                if released is None:
                    continue
                if not text_open:
                    yield _event(ContentBlockStart(index, TextBlock("")))
                    text_open = True
                yield _event(ContentBlockDelta(index, TextDelta(released)))
        except Exception as exc:
            log.exception("generation failed mid-stream")
            yield _error_event(exc)
            return
        result = generation.result
        assert result is not None
        if text_open:
            yield _event(ContentBlockStop(index))
            index += 1
        # What was held back (a whole call, or text that only looked like one), now parsed.
        final = _answer(holdback.finish(finish_reason(result)), result)
        for block in final.content:
            if isinstance(block, ToolUseBlock):
                yield _event(ContentBlockStart(index, ToolUseBlock(block.id, block.name, {})))
                arguments = encoder.encode(block.input).decode()
                yield _event(ContentBlockDelta(index, InputJSONDelta(arguments)))
            else:
                yield _event(ContentBlockStart(index, TextBlock("")))
                yield _event(ContentBlockDelta(index, TextDelta(block.text)))
            yield _event(ContentBlockStop(index))
            index += 1
        reason, stop_sequence = final.stop_reason, final.stop_sequence
        yield _event(MessageDelta(MessageDeltaBody(reason, stop_sequence),
                                  MessageDeltaUsage(result.completion_tokens)))
        yield _event(MessageStop())


def _error_event(exc: Exception) -> StreamFrame:
    if isinstance(exc, APIError):
        body = anthropic_envelope(exc.status_code, exc.message, exc.param)
    else:
        body = anthropic_envelope(500, "The model failed while generating the response.")
    return StreamFrame("error", encoder.encode(body).decode())
