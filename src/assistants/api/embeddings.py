"""POST /v1/embeddings: the embedding model, batched on its own thread (never on the event loop)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from litestar import Request, post
from litestar.di import NamedDependency

from assistants import openapi
from assistants.errors import InvalidRequest, NotFound
from assistants.protocol import decode
from assistants.protocol.embeddings import (
    MAX_INPUT_TOKENS,
    Embedding,
    EmbeddingList,
    EmbeddingRequest,
    EmbeddingUsage,
    embedding_inputs,
)
from assistants.retrieval.embedder import Embedder
from assistants.services import Services

DEFAULT_MODEL = "default"


@post("/v1/embeddings", status_code=200, tags=["embeddings"], opt=openapi.body(EmbeddingRequest))
async def create_embeddings(request: Request[Any, Any, Any],
                            services: NamedDependency[Services]) -> EmbeddingList:
    body = decode(EmbeddingRequest, await request.body())
    vectors, model_id, tokens = await services.retrieval.call(lambda embedder: _embed(embedder, body))
    data = [Embedding(index=index, embedding=_encode(vector, body.encoding_format))
            for index, vector in enumerate(vectors)]
    return EmbeddingList(data=data, model=model_id, usage=EmbeddingUsage(tokens, tokens))


def _embed(embedder: Embedder, body: EmbeddingRequest) -> tuple[np.ndarray, str, int]:
    # Runs on the embedding thread: validation that needs the model (its id, vocabulary) happens here too.
    if body.model not in (embedder.model_id, DEFAULT_MODEL):
        raise NotFound(f"The model '{body.model}' does not exist or you do not have access to it.",
                       param="model", code="model_not_found")
    if body.dimensions is not None and body.dimensions != embedder.dimensions:
        raise InvalidRequest(f"This model does not support specifying dimensions other than its own "
                             f"({embedder.dimensions}).", param="dimensions")
    inputs = embedding_inputs(body.input, embedder.vocab_size)
    token_lists = embedder.tokenize(inputs) if isinstance(inputs[0],
                                                          str) else inputs  # type: ignore[arg-type]
    for index, ids in enumerate(token_lists):
        if len(ids) > MAX_INPUT_TOKENS:
            raise InvalidRequest(f"Input {index} has {len(ids)} tokens; at most {MAX_INPUT_TOKENS} are "
                                 "allowed.",
                                 param="input")
    vectors = embedder.embed_tokens(token_lists)  # type: ignore[arg-type]
    return vectors, embedder.model_id, sum(len(ids) for ids in token_lists)


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # little-endian float32, as the SDK decodes it
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()
