"""Wire types of /v1/models (reference §1.7), with llama-server's `meta` on each row."""

from __future__ import annotations

from typing import Literal

import msgspec


class ModelMeta(msgspec.Struct):
    """llama-server's `meta` on a model row (its Web UI reads n_ctx_train and friends)."""

    n_ctx_train: int
    n_vocab: int
    n_embd: int
    n_params: int
    size: int
    n_ctx: int
    """Context available to one request on this server (not part of llama-server's row)."""


class ModelStatus(msgspec.Struct, omit_defaults=True):
    """Where a model is (llama-server router mode's `status.value`), and why it cannot serve."""

    value: Literal["loaded", "loading", "unloaded", "sleeping", "unavailable"]
    reason: str | None = None
    """Unavailable: why it never loads; unloaded: why its last load failed."""
    load_seconds: float | None = None
    """How long its last load took."""


class Model(msgspec.Struct):
    id: str
    created: int
    owned_by: str = "assistants"
    object: Literal["model"] = "model"
    meta: ModelMeta | None = None
    """Only while loaded: read from the model itself."""
    loaded: bool | None = None
    status: ModelStatus | None = None
    aliases: list[str] = msgspec.field(default_factory=list)
    """Other ids that select this model (`default` for the default one, models.toml aliases)."""
    engine: str | None = None


class LoadModelRequest(msgspec.Struct, forbid_unknown_fields=False):
    """`POST /models/load` and `/models/unload`, as llama.cpp's Web UI sends them."""

    model: str


class LoadModelResponse(msgspec.Struct):
    success: bool
    model: str
    status: ModelStatus


class ModelList(msgspec.Struct):
    data: list[Model]
    object: Literal["list"] = "list"
