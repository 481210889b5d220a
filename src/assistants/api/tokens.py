"""llama-server's `POST /tokenize` and `/detokenize`, on the served model's tokenizer."""

from __future__ import annotations

import asyncio

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from assistants.errors import InvalidRequest
from assistants.inference import Inference
from assistants.protocol import tokens as t


@post("/tokenize", status_code=200, tags=["models"], summary="Text to token ids (llama-server compatible)")
async def tokenize(data: JSONBody[t.TokenizeRequest],
                   inference: NamedDependency[Inference]) -> t.TokenizeResponse:
    if data.with_pieces:
        raise InvalidRequest("'with_pieces' is not supported.", param="with_pieces",
                             code="unsupported_parameter")
    ids = await asyncio.to_thread(inference.tokenize, data.content, add_special=data.add_special,
                                     parse_special=data.parse_special)
    return t.TokenizeResponse(list(ids))


@post("/detokenize", status_code=200, tags=["models"], summary="Token ids to text (llama-server compatible)")
async def detokenize(data: JSONBody[t.DetokenizeRequest],
                     inference: NamedDependency[Inference]) -> t.DetokenizeResponse:
    return t.DetokenizeResponse(await asyncio.to_thread(inference.detokenize, data.tokens))


ROUTES = [tokenize, detokenize]
