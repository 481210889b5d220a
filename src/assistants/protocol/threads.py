"""Thread requests and object."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, Struct, UnsetType

from assistants.protocol.common import Metadata
from assistants.protocol.messages import CreateMessageRequest
from assistants.protocol.tools import ToolResources


class CreateThreadRequest(Struct):
    messages: list[CreateMessageRequest] | None = None
    metadata: Metadata | None = None
    tool_resources: ToolResources | None = None


class UpdateThreadRequest(Struct):
    metadata: Metadata | UnsetType | None = UNSET
    tool_resources: ToolResources | UnsetType | None = UNSET


class Thread(Struct, kw_only=True):
    id: str
    object: str = "thread"
    created_at: int
    metadata: dict[str, str]
    tool_resources: dict[str, Any] | None
