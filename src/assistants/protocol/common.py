"""Types every resource shares: metadata, lists, deletions, usage, errors on objects."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from msgspec import UNSET, Meta, Struct, UnsetType

__all__ = ["DEFAULT_TEMPERATURE", "DEFAULT_TOP_P", "UNSET", "Deleted", "LastError", "ListResponse",
           "Metadata", "UnsetType", "Usage"]

MetadataKey = Annotated[str, Meta(max_length=64)]
MetadataValue = Annotated[str, Meta(max_length=512)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Meta(max_length=16)]
"""Up to 16 string pairs; keys up to 64 characters, values up to 512 (OAS:Metadata)."""

T = TypeVar("T")

DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0
"""OpenAI's sampling defaults, for a request (or an assistant) that names none: the only copy."""


class ListResponse(Struct, Generic[T], kw_only=True):
    object: str = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool


def list_response(data: list[Any], has_more: bool) -> ListResponse[Any]:
    return ListResponse(data=data, first_id=data[0].id if data else None,
                        last_id=data[-1].id if data else None, has_more=has_more)


class Deleted(Struct):
    id: str
    object: str
    deleted: bool = True


class PromptTokensDetails(Struct):
    cached_tokens: int = 0


class Usage(Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | UnsetType = UNSET
    """`cached_tokens`: prompt tokens reused from the prefix KV cache (as on chat completions). Absent on
    rows written before the cache existed."""


class LastError(Struct):
    code: str
    message: str
