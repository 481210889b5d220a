"""GET /v1/models and /v1/models/{model}: every model this server serves, loaded or not; POST
/models/load and /models/unload as llama.cpp's Web UI sends them (plus a --debug view)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from assistants import openapi
from assistants.errors import NotFound, ServiceUnavailable
from assistants.inference.models import Entry, Models
from assistants.protocol.codec import decode
from assistants.protocol.models import (
    LoadModelRequest,
    LoadModelResponse,
    Model,
    ModelList,
    ModelMeta,
    ModelStatus,
)
from assistants.settings import Settings


def check_model(models: Models | None, model: object) -> None:
    """A 404 `model_not_found` for an assistant's or run's model this server does not serve. Without a
    model here (`--no-model`: another process decodes) any name is stored as given."""
    if models is not None and isinstance(model, str):  # not None nor UNSET (left as it is)
        models.entry(model)


def status_of(entry: Entry) -> ModelStatus:
    return ModelStatus(value=entry.state, reason=entry.error,  # type: ignore[arg-type]
                       load_seconds=round(entry.load_seconds, 3) if entry.load_seconds is not None else None)


def model_row(entry: Entry) -> Model:
    meta = None
    served: Any = entry.served  # an Inference, local or remote (`info`: its model's facts)
    if served is not None:
        info, ctx = served.info, served.ctx_size
        meta = ModelMeta(n_ctx_train=info.n_ctx_train, n_vocab=info.n_vocab, n_embd=info.n_embd,
                         n_params=info.n_params, size=info.size, n_ctx=ctx)
    return Model(id=entry.spec.id, created=entry.created, meta=meta, loaded=entry.served is not None,
                 status=status_of(entry), aliases=list(entry.spec.aliases), engine=entry.spec.engine)


@get("/v1/models", tags=["models"])
async def list_models(models: NamedDependency[Models]) -> ModelList:
    return ModelList(data=[model_row(entry) for entry in models.entries])


@get("/v1/models/{model:path}", tags=["models"])
async def retrieve_model(model: FromPath[str], models: NamedDependency[Models]) -> Model:
    # A `path` parameter keeps the leading slash; ids like "Qwen/Qwen2.5-0.5B" arrive as "%2F"-encoded.
    return model_row(models.entry(model.lstrip("/")))


@post("/models/load", status_code=200, tags=["models"],
      summary="Load a model now (llama-server router mode)", opt=openapi.body(LoadModelRequest))
async def load_model(models: NamedDependency[Models], request: Request) -> LoadModelResponse:
    data = decode(LoadModelRequest, await request.body())
    entry = await models.load(data.model)
    return LoadModelResponse(success=True, model=entry.spec.id, status=status_of(entry))


@post("/models/unload", status_code=200, tags=["models"],
      summary="Free a model's memory (llama-server router mode); it loads again on its next request",
      opt=openapi.body(LoadModelRequest))
async def unload_model(models: NamedDependency[Models], request: Request) -> LoadModelResponse:
    data = decode(LoadModelRequest, await request.body())
    entry = models.entry(data.model)
    if not await models.unload(data.model):
        raise ServiceUnavailable(f"The model '{entry.spec.id}' is decoding requests; it stays loaded "
                                 f"(try again when they end).", param="model", code="model_busy")
    return LoadModelResponse(success=True, model=entry.spec.id, status=status_of(entry))


@get("/debug/inference", include_in_schema=False)
async def inference_debug(settings: NamedDependency[Settings],
                          loaded_models: NamedDependency[Models | None]) -> dict[str, Any]:
    """The default model's batcher state and recent step records; exists only with --debug."""
    if not settings.debug:
        raise NotFound("Not found.")
    if loaded_models is None:
        raise ServiceUnavailable("This server runs without a model (--no-model).")
    inference = await loaded_models.get(None)
    state: dict[str, Any] = inference.debug_state()
    return state


ROUTES = [list_models, retrieve_model, load_model, unload_model, inference_debug]
