"""Wire types of llama-server's `POST /tokenize` and `POST /detokenize` (its tools/server/README.md),
and of our `POST /forget_cache`.

They make an `assistants` server a full remote engine for another one (`--engine openai`), which
counts prompts with the engine's own tokenizer and drops a deleted thread's cached KV there.
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class TokenizeRequest(msgspec.Struct, kw_only=True):
    content: str
    model: str | None = None
    """Our extension: which served model's tokenizer (None: the default, as llama-server has one)."""
    add_special: bool = False
    """Add BOS where the model's vocabulary asks for it (llama-server's default: no)."""
    parse_special: bool = True
    """Read special-token text (`<start_of_turn>`) as those tokens."""
    with_pieces: bool = False
    """llama-server can return each token's piece; not served here (a 400)."""


class TokenizeResponse(msgspec.Struct):
    tokens: list[int]


class DetokenizeRequest(msgspec.Struct, kw_only=True):
    tokens: list[int]
    model: str | None = None


class DetokenizeResponse(msgspec.Struct):
    content: str


class ForgetCacheRequest(msgspec.Struct, kw_only=True):
    prompt_cache_key: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    """The key `/v1/completions` kept the prefix under (an `--engine openai` front's thread id)."""
