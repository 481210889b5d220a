"""Tools, tool choice, response format, truncation strategy, tool resources.

`function` and `file_search` tools run here. `code_interpreter` decodes (so the error can say what is
wrong) and is then refused: silently ignoring a tool would change what the run does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from assistants.errors import InvalidRequest
from assistants.protocol.common import Metadata
from assistants.protocol.jsonschema import check_schema
from assistants.protocol.vector_stores import ChunkingStrategy, FileIds

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


class FileSearchRankingOptions(Struct):
    score_threshold: Annotated[float, Meta(ge=0, le=1)]
    ranker: Literal["auto", "default_2024_08_21"] = "auto"


class FileSearchSettings(Struct):
    max_num_results: Annotated[int, Meta(ge=1, le=50)] | None = None
    ranking_options: FileSearchRankingOptions | None = None


class FileSearchTool(Struct, tag="file_search", tag_field="type"):
    """Searches the assistant's and the thread's vector stores with the user's latest message before
    the model answers (see assistants.file_search)."""

    file_search: FileSearchSettings | None = None


Tool = FunctionTool | CodeInterpreterTool | FileSearchTool
"""What a request may name; FunctionTool and FileSearchTool survive decoding."""
EffectiveTool = FunctionTool | FileSearchTool
"""What an assistant or run object lists."""


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
    """Forces the file_search call: the search a run with the tool makes before its model turn anyway;
    the turn itself then decodes as `auto` (runs.tools.turn_tool_choice)."""


ToolChoice = (Literal["none", "auto", "required"] | ToolChoiceFunction | ToolChoiceCodeInterpreter
              | ToolChoiceFileSearch)


class TruncationStrategy(Struct):
    type: Literal["auto", "last_messages"] = "auto"
    last_messages: Annotated[int, Meta(ge=1)] | None = None


class CodeInterpreterResources(Struct):
    file_ids: list[str] | None = None


class VectorStoreHelper(Struct, kw_only=True):
    """`tool_resources.file_search.vector_stores[]`: a store created with the assistant or thread."""

    file_ids: FileIds | None = None
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata | None = None


StoreIds = Annotated[list[Annotated[str, Meta(min_length=1, max_length=64)]], Meta(max_length=1)]


class FileSearchResources(Struct):
    vector_store_ids: StoreIds | None = None
    """At most one store, as OpenAI allows on an assistant and on a thread."""
    vector_stores: Annotated[list[VectorStoreHelper], Meta(max_length=1)] | None = None

    def __post_init__(self) -> None:
        if self.vector_store_ids and self.vector_stores:
            raise InvalidRequest("Give either 'vector_store_ids' or 'vector_stores', not both: at most one "
                                 "vector store is allowed.", param="tool_resources.file_search")


class ToolResources(Struct):
    """`file_search` only (store ids, or one store to create); code_interpreter files are refused."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None

    def __post_init__(self) -> None:
        if self.code_interpreter and self.code_interpreter.file_ids:
            raise InvalidRequest("tool_resources.code_interpreter is not supported by this server.",
                                 param="tool_resources.code_interpreter")

    def vector_store_ids(self) -> list[str]:
        return list(self.file_search.vector_store_ids or []) if self.file_search else []

    def new_vector_stores(self) -> list[VectorStoreHelper]:
        return list(self.file_search.vector_stores or []) if self.file_search else []


def check_tool_choice(tool_choice: Any, tool_names: set[str], *, file_search: bool = False) -> None:
    """A forced tool must exist among the effective tools (given by function name, and whether
    file_search is one): a run's, or a chat completion's."""
    if isinstance(tool_choice, ToolChoiceFileSearch) and not file_search:
        raise InvalidRequest("tool_choice names file_search, which is not among the tools.",
                             param="tool_choice")
    if tool_choice == "required" and not tool_names and not file_search:
        raise InvalidRequest("tool_choice 'required' needs at least one tool.", param="tool_choice")
    if isinstance(tool_choice, ToolChoiceFunction) and tool_choice.function.name not in tool_names:
        raise InvalidRequest(f"tool_choice names function '{tool_choice.function.name}', which is not "
                             "among the tools.", param="tool_choice")
