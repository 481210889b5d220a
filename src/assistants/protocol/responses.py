"""Wire types of the Responses API (round2 reference §1): the create request, the Response object,
input-token counts, and the checks that turn fields we cannot honour into a 400 naming the field.

Items (input and output) stay plain JSON objects: they are polymorphic, stored as their wire form, and
validated item by item in `assistants.responses.items`.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from assistants.errors import InvalidRequest
from assistants.protocol.common import Metadata

ResponseStatus = Literal["queued", "in_progress", "completed", "failed", "cancelled", "incomplete"]
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "incomplete"})

HONOURED_INCLUDES = frozenset({
    # Each names output of a tool or input kind this server refuses anyway, so there is never anything
    # to include: accepting it changes nothing. `message.output_text.logprobs` would change the output.
    "reasoning.encrypted_content", "file_search_call.results", "web_search_call.results",
    "web_search_call.action.sources", "code_interpreter_call.outputs",
    "computer_call_output.output.image_url", "message.input_image.image_url",
})


class StreamOptions(msgspec.Struct, kw_only=True):
    include_obfuscation: bool | None = None
    """Accepted and not applied: events carry no `obfuscation` padding (a client ignores it anyway)."""


class CreateResponseRequest(msgspec.Struct, kw_only=True):
    """`POST /v1/responses` and (the input half of it) `POST /v1/responses/input_tokens`."""

    model: str | None = None
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    store: bool | None = None
    background: bool | None = None
    background_options: dict[str, Any] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: int | None = None
    text: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    truncation: Literal["auto", "disabled"] | None = None
    temperature: float | None = None
    top_p: float | None = None
    metadata: Metadata | None = None
    include: list[str] | None = None
    reasoning: dict[str, Any] | None = None
    top_logprobs: int | None = None
    prompt: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: str | None = None
    safety_identifier: str | None = None
    service_tier: str | None = None
    user: str | None = None
    context_management: Any = None
    image: Any = None
    moderation: Any = None
    access_programs: Any = None


class InputTokens(msgspec.Struct):
    input_tokens: int
    object: Literal["response.input_tokens"] = "response.input_tokens"


class InputTokensDetails(msgspec.Struct):
    cached_tokens: int = 0


class OutputTokensDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class ResponseUsage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: InputTokensDetails = msgspec.field(default_factory=InputTokensDetails)
    output_tokens_details: OutputTokensDetails = msgspec.field(default_factory=OutputTokensDetails)

    @classmethod
    def of(cls, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> ResponseUsage:
        return cls(input_tokens, output_tokens, input_tokens + output_tokens,
                   InputTokensDetails(cached_tokens))


class ConversationRef(msgspec.Struct):
    id: str


class Reasoning(msgspec.Struct):
    effort: str | None = None
    summary: str | None = None


class Response(msgspec.Struct, kw_only=True):
    """The Response object (SDK types/responses/response.py). Built from a stored row or a live one."""

    id: str
    created_at: int
    status: ResponseStatus
    model: str
    output: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    object: Literal["response"] = "response"
    background: bool = False
    completed_at: int | None = None
    conversation: ConversationRef | None = None
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    reasoning: Reasoning = msgspec.field(default_factory=Reasoning)
    service_tier: str = "default"
    store: bool = True
    temperature: float | None = None
    text: dict[str, Any] = msgspec.field(default_factory=lambda: {"format": {"type": "text"}})
    top_logprobs: int = 0
    top_p: float | None = None
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None


def response_object(row: Any) -> Response:
    """A stored (or about-to-be-stored) response record as the wire object."""
    values = dict(row)
    conversation_id = values.pop("conversation_id", None)
    values["conversation"] = {"id": conversation_id} if conversation_id else None
    return msgspec.convert(values, Response)


class ResponseDeleted(msgspec.Struct):
    id: str
    object: Literal["response"] = "response"
    deleted: bool = True


# -- request checks ---------------------------------------------------------------------------------


def _unsupported(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{what} is not supported by this server.", param=param,
                          code="unsupported_parameter")


def _range(param: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise InvalidRequest(f"'{param}' must be between {low:g} and {high:g}, got {value}.", param=param,
                             code="invalid_value")


def conversation_id(request: CreateResponseRequest) -> str | None:
    """The conversation id of `conversation` (a string or `{"id": ...}`)."""
    value = request.conversation
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise InvalidRequest("'conversation' must be a conversation id or an object with its 'id'.",
                             param="conversation")
    return value


def check_request(request: CreateResponseRequest) -> None:
    """Every field that would change the output and that this server cannot honour: a 400 naming it."""
    _range("temperature", request.temperature, 0, 2)
    _range("top_p", request.top_p, 0, 1)
    if request.max_output_tokens is not None and request.max_output_tokens < 1:
        raise InvalidRequest(f"'max_output_tokens' must be at least 1, got {request.max_output_tokens}.",
                             param="max_output_tokens", code="invalid_value")
    if request.max_tool_calls is not None and request.max_tool_calls < 0:
        raise InvalidRequest("'max_tool_calls' must not be negative.", param="max_tool_calls",
                             code="invalid_value")
    if request.previous_response_id is not None and request.conversation is not None:
        raise InvalidRequest("'previous_response_id' cannot be used together with 'conversation'.",
                             param="previous_response_id")
    if request.background and request.store is False:
        raise InvalidRequest("Background responses require 'store' to be true.", param="background")
    if request.stream_options is not None and not request.stream:
        raise InvalidRequest("'stream_options' is only allowed when 'stream' is true.",
                             param="stream_options")
    if request.top_logprobs:
        raise _unsupported("top_logprobs", "'top_logprobs'")
    if request.prompt is not None:
        raise _unsupported("prompt", "Reusable prompts ('prompt')")
    if request.reasoning is not None and request.reasoning.get("effort") not in (None, "none"):
        raise _unsupported("reasoning", "Reasoning (the served model does not reason)")
    for name in ("context_management", "image", "moderation", "access_programs"):
        if getattr(request, name) is not None:
            raise _unsupported(name, f"'{name}'")
    for i, value in enumerate(request.include or ()):
        if value not in HONOURED_INCLUDES:
            raise _unsupported(f"include[{i}]", f"include value '{value}'")
    if request.text is not None:
        unknown = set(request.text) - {"format", "verbosity"}
        if unknown:
            raise _unsupported(f"text.{sorted(unknown)[0]}", f"'text.{sorted(unknown)[0]}'")
        if request.text.get("verbosity") not in (None, "medium"):
            raise _unsupported("text.verbosity", "A 'text.verbosity' other than 'medium'")
    conversation_id(request)
