"""Wire types of Anthropic's Messages API: POST /v1/messages and /v1/messages/count_tokens.

Only the shapes; turning them into the chat serving path's messages and tools is
`assistants.serving.anthropic`'s job. As elsewhere, fields that do not change the output
(`metadata`, `cache_control`, `service_tier`, ...) are accepted and ignored; content block types we
cannot honour (images, documents, thinking) fail the tagged union and get a 400 naming the block.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]

# -- request -------------------------------------------------------------------------------------


class TextBlockParam(msgspec.Struct, tag="text", tag_field="type", kw_only=True):
    text: str


class ToolUseBlockParam(msgspec.Struct, tag="tool_use", tag_field="type", kw_only=True):
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlockParam(msgspec.Struct, tag="tool_result", tag_field="type", kw_only=True):
    tool_use_id: str
    content: str | list[TextBlockParam] | None = None
    is_error: bool | None = None


ContentBlockParam = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam


class MessageParam(msgspec.Struct, kw_only=True):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlockParam]


class AnthropicTool(msgspec.Struct, kw_only=True):
    """A client tool (`type` absent or `custom`); server tools (web search, ...) are refused."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9_-]+$")]
    input_schema: dict[str, Any]
    description: str | None = None
    type: Literal["custom"] | None = None


class ToolChoiceAuto(msgspec.Struct, tag="auto", tag_field="type", kw_only=True):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(msgspec.Struct, tag="any", tag_field="type", kw_only=True):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(msgspec.Struct, tag="tool", tag_field="type", kw_only=True):
    name: str
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(msgspec.Struct, tag="none", tag_field="type", kw_only=True):
    pass


ToolChoice = ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone


class Metadata(msgspec.Struct, kw_only=True):
    user_id: str | None = None


class ThinkingDisabled(msgspec.Struct, tag="disabled", tag_field="type", kw_only=True):
    pass


class CountTokensRequest(msgspec.Struct, kw_only=True):
    """The prompt part of a request: what /v1/messages/count_tokens takes."""

    model: str
    messages: list[MessageParam]
    system: str | list[TextBlockParam] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingDisabled | None = None
    """Extended thinking is not supported: only `{"type": "disabled"}` passes."""


class MessagesRequest(CountTokensRequest, kw_only=True):
    max_tokens: Annotated[int, msgspec.Meta(ge=1)]
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=0)] | None = None
    metadata: Metadata | None = None
    service_tier: str | None = None


# -- response ------------------------------------------------------------------------------------


class TextBlock(msgspec.Struct, tag="text", tag_field="type"):
    text: str


class ToolUseBlock(msgspec.Struct, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: dict[str, Any]


ContentBlock = TextBlock | ToolUseBlock


class AnthropicUsage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class AnthropicMessage(msgspec.Struct):
    id: str
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: AnthropicUsage
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"


class CountTokensResponse(msgspec.Struct):
    input_tokens: int


# -- stream events (the SSE `event:` name is the same as `type`) ---------------------------------


class MessageStart(msgspec.Struct, tag="message_start", tag_field="type"):
    message: AnthropicMessage


class ContentBlockStart(msgspec.Struct, tag="content_block_start", tag_field="type"):
    index: int
    content_block: ContentBlock


class TextDelta(msgspec.Struct, tag="text_delta", tag_field="type"):
    text: str


class InputJSONDelta(msgspec.Struct, tag="input_json_delta", tag_field="type"):
    partial_json: str


class ContentBlockDelta(msgspec.Struct, tag="content_block_delta", tag_field="type"):
    index: int
    delta: TextDelta | InputJSONDelta


class ContentBlockStop(msgspec.Struct, tag="content_block_stop", tag_field="type"):
    index: int


class MessageDeltaBody(msgspec.Struct):
    stop_reason: StopReason
    stop_sequence: str | None = None


class MessageDeltaUsage(msgspec.Struct):
    output_tokens: int


class MessageDelta(msgspec.Struct, tag="message_delta", tag_field="type"):
    delta: MessageDeltaBody
    usage: MessageDeltaUsage


class MessageStop(msgspec.Struct, tag="message_stop", tag_field="type"):
    pass


class Ping(msgspec.Struct, tag="ping", tag_field="type"):
    pass


StreamEvent = (MessageStart | ContentBlockStart | ContentBlockDelta | ContentBlockStop | MessageDelta
               | MessageStop | Ping)


# -- errors --------------------------------------------------------------------------------------


class ErrorDetail(msgspec.Struct):
    type: str
    message: str


class AnthropicErrorResponse(msgspec.Struct, tag="error", tag_field="type"):
    """Anthropic's error envelope `{"type": "error", "error": {"type", "message"}}`."""

    error: ErrorDetail
