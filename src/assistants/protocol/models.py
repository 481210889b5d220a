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


class Model(msgspec.Struct):
    id: str
    created: int
    owned_by: str = "assistants"
    object: Literal["model"] = "model"
    meta: ModelMeta | None = None


class ModelList(msgspec.Struct):
    data: list[Model]
    object: Literal["list"] = "list"
