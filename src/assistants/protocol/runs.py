"""Run requests and object."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from assistants.protocol.assistants import Instructions, ModelId, Temperature, TopP
from assistants.protocol.common import LastError, Metadata, Usage
from assistants.protocol.messages import CreateMessageRequest
from assistants.protocol.run_status import RunStatus
from assistants.protocol.threads import CreateThreadRequest
from assistants.protocol.tools import (
    EffectiveTool,
    ResponseFormat,
    Tool,
    ToolChoice,
    ToolResources,
    TruncationStrategy,
)

TokenLimit = Annotated[int, Meta(ge=256)]
CompletionLimit = Annotated[int, Meta(ge=1)]
"""Relaxed from the OAS minimum of 256: a local server runs small models whose answers a caller may
want to keep short (and tests need short runs). Accepting more than OpenAI does breaks no client."""
RunTools = Annotated[list[Tool], Meta(max_length=20)]


class _RunOptions(Struct):
    """What create-run and create-thread-and-run share. Absent fields fall back to the assistant."""

    assistant_id: str
    model: ModelId | None = None
    instructions: Instructions | None = None
    tools: RunTools | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_prompt_tokens: TokenLimit | None = None
    max_completion_tokens: CompletionLimit | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    """Accepted and ignored: the served model does no separate reasoning."""
    stream: bool | None = None


class CreateRunRequest(_RunOptions):
    additional_instructions: Instructions | None = None
    additional_messages: list[CreateMessageRequest] | None = None


class CreateThreadAndRunRequest(_RunOptions):
    thread: CreateThreadRequest | None = None
    tool_resources: ToolResources | None = None


class UpdateRunRequest(Struct):
    metadata: Metadata | UnsetType | None = UNSET


class ToolOutput(Struct):
    tool_call_id: str
    output: str


class SubmitToolOutputsRequest(Struct):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


class RequiredActionFunction(Struct):
    name: str
    arguments: str
    """A JSON string, never an object."""


class RequiredActionToolCall(Struct, tag="function", tag_field="type"):
    id: str
    function: RequiredActionFunction


class SubmitToolOutputs(Struct):
    tool_calls: list[RequiredActionToolCall]


class RequiredAction(Struct, tag="submit_tool_outputs", tag_field="type"):
    submit_tool_outputs: SubmitToolOutputs


class RunIncompleteDetails(Struct):
    reason: Literal["max_completion_tokens", "max_prompt_tokens"] | None = None


class Run(Struct, kw_only=True):
    id: str
    object: str = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus
    required_action: RequiredAction | None
    last_error: LastError | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: RunIncompleteDetails | None
    model: str
    instructions: str
    tools: list[EffectiveTool]
    metadata: dict[str, str]
    usage: Usage | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationStrategy
    tool_choice: ToolChoice
    parallel_tool_calls: bool
    response_format: ResponseFormat
