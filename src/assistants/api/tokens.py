"""llama-server's `POST /tokenize` and `/detokenize`, on a served model's tokenizer, and our
`POST /forget_cache`, by which an `--engine openai` front drops a deleted thread's KV here."""

from __future__ import annotations

import asyncio

from litestar import Request, post
from litestar.di import NamedDependency

from assistants import openapi
from assistants.errors import InvalidRequest
from assistants.inference.models import Models
from assistants.protocol import tokens as t
from assistants.protocol.codec import decode
from assistants.protocol.common import Deleted


@post("/tokenize", status_code=200, tags=["models"], summary="Text to token ids (llama-server compatible)",
      opt=openapi.body(t.TokenizeRequest))
async def tokenize(models: NamedDependency[Models], request: Request) -> t.TokenizeResponse:
    data = decode(t.TokenizeRequest, await request.body())
    if data.with_pieces:
        raise InvalidRequest("'with_pieces' is not supported.", param="with_pieces",
                             code="unsupported_parameter")
    inference = await models.get(data.model)
    ids = await asyncio.to_thread(inference.tokenize, data.content, add_special=data.add_special,
                                     parse_special=data.parse_special)
    return t.TokenizeResponse(list(ids))


@post("/detokenize", status_code=200, tags=["models"], summary="Token ids to text (llama-server compatible)",
      opt=openapi.body(t.DetokenizeRequest))
async def detokenize(models: NamedDependency[Models], request: Request) -> t.DetokenizeResponse:
    data = decode(t.DetokenizeRequest, await request.body())
    inference = await models.get(data.model)
    return t.DetokenizeResponse(await asyncio.to_thread(inference.detokenize, data.tokens))


@post("/forget_cache", status_code=200, tags=["models"], opt=openapi.body(t.ForgetCacheRequest),
      summary="Drop the KV cached under a prompt_cache_key (memory and disk)")
async def forget_cache(loaded_models: NamedDependency[Models | None], request: Request) -> Deleted:
    """Every loaded model forgets it (as a deleted thread's caches are here); an unknown key is no
    error, and a model not loaded now keeps its disk file until its budget ages it out."""
    data = decode(t.ForgetCacheRequest, await request.body())
    if loaded_models is not None:
        loaded_models.forget_cache(data.prompt_cache_key)
    return Deleted(id=data.prompt_cache_key, object="prompt_cache.deleted")


ROUTES = [tokenize, detokenize, forget_cache]
