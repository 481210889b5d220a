"""Run step object. Steps are written by the run worker; the API only reads them."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, Struct, UnsetType

from assistants.protocol.common import LastError, Usage


class MessageCreation(Struct):
    message_id: str


class MessageCreationDetails(Struct, tag="message_creation", tag_field="type"):
    message_creation: MessageCreation


class FunctionCall(Struct):
    name: str
    arguments: str
    output: str | None = None
    """null until the tool output is submitted."""


class FunctionToolCall(Struct, tag="function", tag_field="type"):
    id: str
    function: FunctionCall


class FileSearchResultContent(Struct):
    text: str
    type: str = "text"


class FileSearchResult(Struct, kw_only=True):
    file_id: str
    file_name: str
    score: float
    content: list[FileSearchResultContent] | UnsetType = UNSET
    """Stored always; shown only when the request's `include[]` asks for it (see api/steps.py)."""


class FileSearchCall(Struct, kw_only=True):
    ranking_options: dict[str, Any]
    results: list[FileSearchResult]


class FileSearchToolCall(Struct, tag="file_search", tag_field="type"):
    id: str
    file_search: FileSearchCall


class ToolCallsDetails(Struct, tag="tool_calls", tag_field="type"):
    tool_calls: list[FunctionToolCall | FileSearchToolCall]


StepDetails = MessageCreationDetails | ToolCallsDetails


class RunStep(Struct, kw_only=True):
    id: str
    object: str = "thread.run.step"
    created_at: int
    run_id: str
    assistant_id: str
    thread_id: str
    type: Literal["message_creation", "tool_calls"]
    status: Literal["in_progress", "cancelled", "failed", "completed", "expired"]
    step_details: StepDetails
    last_error: LastError | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: dict[str, str] | None
    usage: Usage | None
