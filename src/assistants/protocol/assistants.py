"""Assistant requests and object."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType

from assistants.protocol.common import Metadata
from assistants.protocol.tools import EffectiveTool, ResponseFormat, Tool, ToolResources

ModelId = Annotated[str, Meta(min_length=1, max_length=256)]
Name = Annotated[str, Meta(max_length=256)]
Description = Annotated[str, Meta(max_length=512)]
Instructions = Annotated[str, Meta(max_length=256_000)]
Temperature = Annotated[float, Meta(ge=0, le=2)]
TopP = Annotated[float, Meta(ge=0, le=1)]
AssistantTools = Annotated[list[Tool], Meta(max_length=128)]


class CreateAssistantRequest(Struct):
    model: ModelId
    name: Name | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    tools: AssistantTools | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    """Accepted and ignored: the served model does no separate reasoning."""


class UpdateAssistantRequest(Struct):
    """Only the fields present change; an explicit null clears a nullable field."""

    model: ModelId | UnsetType = UNSET
    name: Name | UnsetType | None = UNSET
    description: Description | UnsetType | None = UNSET
    instructions: Instructions | UnsetType | None = UNSET
    tools: AssistantTools | UnsetType | None = UNSET
    tool_resources: ToolResources | UnsetType | None = UNSET
    metadata: Metadata | UnsetType | None = UNSET
    temperature: Temperature | UnsetType | None = UNSET
    top_p: TopP | UnsetType | None = UNSET
    response_format: ResponseFormat | UnsetType | None = UNSET
    reasoning_effort: str | UnsetType | None = UNSET


class Assistant(Struct, kw_only=True):
    id: str
    object: str = "assistant"
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[EffectiveTool]
    tool_resources: dict[str, Any] | None
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    response_format: ResponseFormat | None
