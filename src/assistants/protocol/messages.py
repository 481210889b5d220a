"""Thread messages: input content parts (requests), output content parts (objects), message object.

Input text is `{"type": "text", "text": "hi"}`; output text is
`{"type": "text", "text": {"value": "hi", "annotations": []}}`. A plain string input becomes one text part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from assistants.errors import InvalidRequest
from assistants.protocol.common import Metadata

ImageDetail = Literal["auto", "low", "high"]


class ImageURL(Struct):
    url: str
    detail: ImageDetail | None = None


class ImageURLPart(Struct, tag="image_url", tag_field="type"):
    image_url: ImageURL


class ImageFile(Struct):
    file_id: str
    detail: ImageDetail | None = None


class ImageFilePart(Struct, tag="image_file", tag_field="type"):
    image_file: ImageFile


class TextInputPart(Struct, tag="text", tag_field="type"):
    text: str


InputPart = TextInputPart | ImageURLPart | ImageFilePart


class Text(Struct):
    value: str
    annotations: list[dict[str, Any]] = []


class TextContent(Struct, tag="text", tag_field="type"):
    text: Text


class RefusalContent(Struct, tag="refusal", tag_field="type"):
    refusal: str


MessageContent = TextContent | ImageFilePart | ImageURLPart | RefusalContent


class FileSearchAttachmentTool(Struct, tag="file_search", tag_field="type"):
    pass


class CodeInterpreterAttachmentTool(Struct, tag="code_interpreter", tag_field="type"):
    def __post_init__(self) -> None:
        raise InvalidRequest("Attachments for code_interpreter are not supported by this server.",
                             param="attachments")


class Attachment(Struct):
    """A file for the thread's tools: with `file_search`, it joins the thread's vector store (created on
    first use, expiring after 7 days idle, as OpenAI does)."""

    file_id: Annotated[str, Meta(min_length=1, max_length=64)]
    tools: list[FileSearchAttachmentTool | CodeInterpreterAttachmentTool] = []

    def searched(self) -> bool:
        return any(isinstance(tool, FileSearchAttachmentTool) for tool in self.tools)


class CreateMessageRequest(Struct):
    role: Literal["user", "assistant"]
    content: Annotated[str, Meta(min_length=1)] | Annotated[list[InputPart], Meta(min_length=1)]
    attachments: Annotated[list[Attachment], Meta(max_length=20)] | None = None
    metadata: Metadata | None = None

    def output_content(self) -> list[MessageContent]:
        """The stored (output) form of the content."""
        if isinstance(self.content, str):
            return [TextContent(Text(self.content))]
        return [TextContent(Text(part.text)) if isinstance(part, TextInputPart) else part
                for part in self.content]


class UpdateMessageRequest(Struct):
    metadata: Metadata | UnsetType | None = UNSET


class IncompleteDetails(Struct):
    reason: str


class Message(Struct, kw_only=True):
    id: str
    object: str = "thread.message"
    created_at: int
    thread_id: str
    status: Literal["in_progress", "incomplete", "completed"]
    incomplete_details: IncompleteDetails | None
    completed_at: int | None
    incomplete_at: int | None
    role: Literal["user", "assistant"]
    content: list[MessageContent]
    assistant_id: str | None
    run_id: str | None
    attachments: list[Attachment]
    metadata: dict[str, str]


TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


def content_text(content: Any) -> str:
    """The text of message content as a text-only model reads it: a string as is; of a list of parts,
    the non-empty text parts joined by newlines (input `text: "hi"` or output `text: {"value": "hi"}`),
    images and refusals left out; None is ''."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if isinstance(part, Mapping) and part.get("type") in TEXT_PART_TYPES:
            text = part.get("text")
            if isinstance(text, Mapping):
                text = text.get("value")
            if isinstance(text, str) and text:
                texts.append(text)
    return "\n".join(texts)
