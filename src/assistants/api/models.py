"""GET /v1/models and /v1/models/{model}: the one model this server serves (plus a --debug view)."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from assistants.errors import NotFound, ServiceUnavailable
from assistants.inference import Inference
from assistants.protocol.models import Model, ModelList, ModelMeta
from assistants.settings import Settings

DEFAULT_MODEL = "default"


def resolve_model(inference: Inference, model: str) -> Inference:
    """The loaded model if `model` names it (or is `default`), else 404 `model_not_found`."""
    if model not in (inference.model_id, DEFAULT_MODEL):
        raise NotFound(
            f"The model '{model}' does not exist or you do not have access to it. Available models: "
            f"'{inference.model_id}' (also as '{DEFAULT_MODEL}').",
            param="model",
            code="model_not_found",
        )
    return inference


def _model(inference: Inference) -> Model:
    info = inference.info
    meta = ModelMeta(n_ctx_train=info.n_ctx_train, n_vocab=info.n_vocab, n_embd=info.n_embd,
                     n_params=info.n_params, size=info.size, n_ctx=inference.ctx_size)
    return Model(id=inference.model_id, created=inference.created, meta=meta)


@get("/v1/models", tags=["models"])
async def list_models(inference: NamedDependency[Inference]) -> ModelList:
    return ModelList(data=[_model(inference)])


@get("/v1/models/{model:path}", tags=["models"])
async def retrieve_model(model: FromPath[str], inference: NamedDependency[Inference]) -> Model:
    # A `path` parameter keeps the leading slash; ids like "Qwen/Qwen2.5-0.5B" arrive as "%2F"-encoded.
    return _model(resolve_model(inference, model.lstrip("/")))


@get("/debug/inference", include_in_schema=False)
async def inference_debug(settings: NamedDependency[Settings],
                          loaded_inference: NamedDependency[Inference | None]) -> dict[str, Any]:
    """Batcher state and recent step records; exists only when the server runs with --debug."""
    if not settings.debug:
        raise NotFound("Not found.")
    if loaded_inference is None:
        raise ServiceUnavailable("This server runs without a model (--no-model).")
    return loaded_inference.debug_state()
