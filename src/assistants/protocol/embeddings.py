"""POST /v1/embeddings: request, response, and the input's shapes checked the way OpenAI words them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from assistants.errors import InvalidRequest

MAX_INPUTS = 2048
"""OpenAI's limit on the number of inputs in one request."""
MAX_INPUT_TOKENS = 8192
"""Per input, as OpenAI's embedding models: longer texts are refused, not silently cut."""


class EmbeddingRequest(Struct, kw_only=True):
    input: str | list[Any]
    model: Annotated[str, Meta(min_length=1, max_length=256)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Meta(ge=1)] | None = None
    user: str | None = None


class Embedding(Struct, kw_only=True):
    object: str = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(Struct):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(Struct, kw_only=True):
    object: str = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


def embedding_inputs(value: str | list[Any], vocab_size: int) -> list[str] | list[list[int]]:
    """The inputs as a list of texts or a list of token-id lists; 400 for anything else."""
    if isinstance(value, str):
        value = [value]
    if not value:
        raise InvalidRequest("'input' must not be empty.", param="input")
    if len(value) > MAX_INPUTS:
        raise InvalidRequest(f"'input' holds {len(value)} items; at most {MAX_INPUTS} are allowed.",
                             param="input")
    if all(isinstance(item, str) for item in value):
        if any(not item for item in value):
            raise InvalidRequest("'input' must not contain empty strings.", param="input")
        return value
    if all(_is_token(item) for item in value):
        value = [value]
    if all(isinstance(item, list) and item and all(_is_token(token) for token in item) for item in value):
        if any(token >= vocab_size for item in value for token in item):
            raise InvalidRequest("'input' holds a token id outside this model's vocabulary "
                                 f"(0..{vocab_size - 1}).",
                                 param="input")
        return value
    raise InvalidRequest("'input' must be a string, a list of strings, a list of token ids or a list of "
                         "lists of token ids (no empty items).", param="input")


def _is_token(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and item >= 0
