"""Vector stores, their files and file batches, search: requests, objects and their checks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from assistants.errors import InvalidRequest
from assistants.protocol.common import Metadata

MAX_FILE_IDS = 500
"""Files in one create or batch request (OpenAI's limit)."""
DEFAULT_SEARCH_RESULTS = 10

AttributeKey = Annotated[str, Meta(min_length=1, max_length=64)]
AttributeValue = Annotated[str, Meta(max_length=512)] | float | bool
Attributes = Annotated[dict[AttributeKey, AttributeValue], Meta(max_length=16)]
"""Up to 16 pairs; keys up to 64 characters; values strings (up to 512), numbers or booleans."""


AUTO_MAX_TOKENS = 800
AUTO_OVERLAP_TOKENS = 400
"""OpenAI's `auto` strategy: "currently uses a max_chunk_size_tokens of 800 and chunk_overlap_tokens
of 400"."""
MAX_FILTER_DEPTH = 8


class AutoChunking(Struct, tag="auto", tag_field="type"):
    pass


class StaticChunkingParams(Struct):
    max_chunk_size_tokens: Annotated[int, Meta(ge=100, le=4096)]
    chunk_overlap_tokens: Annotated[int, Meta(ge=0)]

    def __post_init__(self) -> None:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise InvalidRequest("'chunk_overlap_tokens' must not exceed half of 'max_chunk_size_tokens'.",
                                 param="chunking_strategy.static.chunk_overlap_tokens")


class StaticChunking(Struct, tag="static", tag_field="type"):
    static: StaticChunkingParams


ChunkingStrategy = AutoChunking | StaticChunking


def stored_chunking(strategy: ChunkingStrategy | None) -> dict[str, Any]:
    """The strategy as a file echoes it: `auto` is recorded as the static sizes it stands for."""
    if isinstance(strategy, StaticChunking):
        params = strategy.static
        return {"type": "static", "static": {"max_chunk_size_tokens": params.max_chunk_size_tokens,
                                             "chunk_overlap_tokens": params.chunk_overlap_tokens}}
    return {"type": "static", "static": {"max_chunk_size_tokens": AUTO_MAX_TOKENS,
                                         "chunk_overlap_tokens": AUTO_OVERLAP_TOKENS}}


class ExpiresAfter(Struct):
    anchor: Literal["last_active_at"]
    days: Annotated[int, Meta(ge=1, le=365)]


FileIds = Annotated[list[Annotated[str, Meta(min_length=1, max_length=64)]], Meta(max_length=MAX_FILE_IDS)]


class CreateVectorStoreRequest(Struct, kw_only=True):
    name: Annotated[str, Meta(max_length=256)] | None = None
    description: Annotated[str, Meta(max_length=512)] | None = None
    file_ids: FileIds | None = None
    chunking_strategy: ChunkingStrategy | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata | None = None


class UpdateVectorStoreRequest(Struct, kw_only=True):
    name: Annotated[str, Meta(max_length=256)] | UnsetType | None = UNSET
    expires_after: ExpiresAfter | UnsetType | None = UNSET
    metadata: Metadata | UnsetType | None = UNSET


class CreateVectorStoreFileRequest(Struct, kw_only=True):
    file_id: Annotated[str, Meta(min_length=1, max_length=64)]
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None


class UpdateVectorStoreFileRequest(Struct, kw_only=True):
    attributes: Attributes | None


class BatchFile(Struct, kw_only=True):
    file_id: Annotated[str, Meta(min_length=1, max_length=64)]
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None


class CreateFileBatchRequest(Struct, kw_only=True):
    file_ids: FileIds | None = None
    files: Annotated[list[BatchFile], Meta(max_length=MAX_FILE_IDS)] | None = None
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None

    def __post_init__(self) -> None:
        if (self.file_ids is None) == (self.files is None):
            raise InvalidRequest("Provide exactly one of 'file_ids' and 'files'.", param="file_ids")
        if not (self.file_ids or self.files):
            raise InvalidRequest("'file_ids' must not be empty.", param="file_ids")


# Filters: OpenAI's ComparisonFilter and CompoundFilter (types/shared/comparison_filter.py,
# compound_filter.py).
ComparisonType = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
FilterValue = str | float | bool | list[str | float]


class ComparisonFilter(Struct, kw_only=True):
    key: Annotated[str, Meta(min_length=1, max_length=64)]
    type: ComparisonType
    value: FilterValue

    def __post_init__(self) -> None:
        if (self.type in ("in", "nin")) != isinstance(self.value, list):
            wanted = "list" if self.type in ("in", "nin") else "single"
            raise InvalidRequest(f"Filter type '{self.type}' needs a {wanted} "
                                 "value.", param="filters.value")


class CompoundFilter(Struct, kw_only=True):
    type: Literal["and", "or"]
    filters: Annotated[list[Any], Meta(min_length=1, max_length=32)]
    """Comparison or compound filters, parsed by `parse_filter`."""


Filter = ComparisonFilter | CompoundFilter


class RankingOptions(Struct, kw_only=True):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: Annotated[float, Meta(ge=0, le=1)] = 0.0


class SearchRequest(Struct, kw_only=True):
    query: Annotated[str, Meta(min_length=1, max_length=4096)] | Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=4096)]], Meta(min_length=1, max_length=8)]
    filters: dict[str, Any] | None = None
    max_num_results: Annotated[int, Meta(ge=1, le=50)] = DEFAULT_SEARCH_RESULTS
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False
    """Accepted; the query is searched as given (there is no model call to rewrite it)."""


class FileCounts(Struct):
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


class VectorStore(Struct, kw_only=True):
    id: str
    object: str = "vector_store"
    created_at: int
    name: str | None
    description: str | None = None
    status: str
    usage_bytes: int
    file_counts: FileCounts
    last_active_at: int
    metadata: dict[str, str]
    expires_after: dict[str, Any] | None = None
    expires_at: int | None = None


class VectorStoreFile(Struct, kw_only=True):
    id: str
    object: str = "vector_store.file"
    created_at: int
    vector_store_id: str
    status: str
    usage_bytes: int
    last_error: dict[str, Any] | None
    attributes: dict[str, Any] | None = None
    chunking_strategy: dict[str, Any] | None = None


class VectorStoreFileBatch(Struct, kw_only=True):
    id: str
    object: str = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: str
    file_counts: FileCounts


class FileContentPart(Struct):
    text: str
    type: str = "text"


class SearchResult(Struct, kw_only=True):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any] | None
    content: list[FileContentPart]


class SearchResultsPage(Struct, kw_only=True):
    object: str = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool = False
    next_page: str | None = None


class FileContentPage(Struct, kw_only=True):
    object: str = "vector_store.file_content.page"
    data: list[FileContentPart]
    has_more: bool = False
    next_page: str | None = None


def parse_filter(value: Any, path: str = "filters", depth: int = 0) -> Filter:
    """A filter object (comparison or compound, nested) or 400 naming where it is wrong."""
    import msgspec

    if depth > MAX_FILTER_DEPTH:
        raise InvalidRequest(f"Invalid '{path}': filters nest at most {MAX_FILTER_DEPTH} deep.", param=path)
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid '{path}': expected an object.", param=path)
    kind = ComparisonFilter if value.get("type") not in ("and", "or") else CompoundFilter
    try:
        parsed = msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"Invalid '{path}': {exc}.", param=path) from None
    if isinstance(parsed, CompoundFilter):
        parsed.filters = [parse_filter(item, f"{path}.filters[{index}]", depth + 1)
                          for index, item in enumerate(parsed.filters)]
    return parsed



def _file_counts(counts: dict[str, int]) -> FileCounts:
    return FileCounts(in_progress=counts["in_progress"], completed=counts["completed"],
                      failed=counts["failed"],
                      cancelled=counts["cancelled"], total=counts["total"])


def vector_store_object(row: dict[str, Any]) -> VectorStore:
    return VectorStore(id=row["id"], created_at=row["created_at"], name=row["name"],
                       description=row["description"],
                       status=row["status"], usage_bytes=row["usage_bytes"],
                       file_counts=_file_counts(row["file_counts"]),
                       last_active_at=row["last_active_at"], metadata=row["metadata"],
                       expires_after=row["expires_after"], expires_at=row["expires_at"])


def store_file_object(row: dict[str, Any]) -> VectorStoreFile:
    return VectorStoreFile(id=row["id"], created_at=row["created_at"], vector_store_id=row["vector_store_id"],
                           status=row["status"], usage_bytes=row["usage_bytes"], last_error=row["last_error"],
                           attributes=row["attributes"], chunking_strategy=row["chunking_strategy"])


def batch_object(row: dict[str, Any]) -> VectorStoreFileBatch:
    return VectorStoreFileBatch(id=row["id"], created_at=row["created_at"],
                                vector_store_id=row["vector_store_id"],
                                status=row["status"], file_counts=_file_counts(row["file_counts"]))
