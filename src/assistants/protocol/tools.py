"""Tools, tool choice, response format, truncation strategy, tool resources.

Only `function` tools run here. `code_interpreter` and `file_search` decode (so the error can say what
is wrong) and are then refused: silently ignoring a tool would change what the run does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from assistants.errors import InvalidRequest
from assistants.protocol.jsonschema import check_schema

FunctionName = Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]


class FunctionDefinition(Struct):
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    """A JSON Schema object; omitted means a function without parameters."""
    strict: bool | None = None

    def __post_init__(self) -> None:
        # A schema the grammar cannot enforce is refused here (msgspec adds the path to the error).
        if self.parameters is not None:
            check_schema(self.parameters, "parameters")


class FunctionTool(Struct, tag="function", tag_field="type"):
    function: FunctionDefinition


class CodeInterpreterTool(Struct, tag="code_interpreter", tag_field="type"):
    def __post_init__(self) -> None:
        raise InvalidRequest("Tools of type 'code_interpreter' are not supported by this server.",
                             param="tools")


class FileSearchTool(Struct, tag="file_search", tag_field="type"):
    file_search: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        raise InvalidRequest("Tools of type 'file_search' are not supported by this server.", param="tools")


Tool = FunctionTool | CodeInterpreterTool | FileSearchTool
"""What a request may name; only FunctionTool survives decoding."""


class ResponseFormatText(Struct, tag="text", tag_field="type"):
    pass


class ResponseFormatJsonObject(Struct, tag="json_object", tag_field="type"):
    pass


class JsonSchema(Struct):
    name: FunctionName
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None

    def __post_init__(self) -> None:
        if self.schema is not None:
            check_schema(self.schema, "schema")


class ResponseFormatJsonSchema(Struct, tag="json_schema", tag_field="type"):
    json_schema: JsonSchema


ResponseFormat = Literal["auto"] | ResponseFormatText | ResponseFormatJsonObject | ResponseFormatJsonSchema


class ToolChoiceFunctionName(Struct):
    name: str


class ToolChoiceFunction(Struct, tag="function", tag_field="type"):
    function: ToolChoiceFunctionName


class ToolChoiceCodeInterpreter(Struct, tag="code_interpreter", tag_field="type"):
    def __post_init__(self) -> None:
        raise InvalidRequest("tool_choice 'code_interpreter' is not supported by this server.",
                             param="tool_choice")


class ToolChoiceFileSearch(Struct, tag="file_search", tag_field="type"):
    def __post_init__(self) -> None:
        raise InvalidRequest("tool_choice 'file_search' is not supported by this server.",
                             param="tool_choice")


ToolChoice = (Literal["none", "auto", "required"] | ToolChoiceFunction | ToolChoiceCodeInterpreter
              | ToolChoiceFileSearch)


class TruncationStrategy(Struct):
    type: Literal["auto", "last_messages"] = "auto"
    last_messages: Annotated[int, Meta(ge=1)] | None = None


class CodeInterpreterResources(Struct):
    file_ids: list[str] | None = None


class FileSearchResources(Struct):
    vector_store_ids: list[str] | None = None
    vector_stores: list[dict[str, Any]] | None = None


class ToolResources(Struct):
    """Accepted only when empty: there is no file storage behind this server."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None

    def __post_init__(self) -> None:
        files = self.code_interpreter.file_ids if self.code_interpreter else None
        search = self.file_search
        stores = (search.vector_store_ids or search.vector_stores) if search else None
        if files or stores:
            raise InvalidRequest("tool_resources with files or vector stores are not supported by this "
                                 "server.", param="tool_resources")


def check_tool_choice(tool_choice: Any, tool_names: set[str]) -> None:
    """A forced tool must exist among the effective tools (given by function name): a run's, or a chat
    completion's."""
    if tool_choice == "required" and not tool_names:
        raise InvalidRequest("tool_choice 'required' needs at least one tool.", param="tool_choice")
    if isinstance(tool_choice, ToolChoiceFunction) and tool_choice.function.name not in tool_names:
        raise InvalidRequest(f"tool_choice names function '{tool_choice.function.name}', which is not "
                             "among the tools.", param="tool_choice")
