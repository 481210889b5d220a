"""mlx-lm `config.json` for a `gemma3_text` model, from GGUF metadata.

Where the GGUF is silent, the defaults are the ones llama.cpp itself assumes for `gemma3` (llama-model.cpp),
so the converted model computes what llama.cpp computes with the same file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistants.inference.mlx.tokenizer import end_of_turn_ids

SUPPORTED_ARCHITECTURES = ("gemma3",)

# llama.cpp hard-codes these for gemma3 unless the GGUF says otherwise.
DEFAULT_ROPE_LOCAL_BASE = 10_000.0
DEFAULT_SLIDING_WINDOW_PATTERN = 6  # five sliding-window layers, then one global layer
DEFAULT_HEAD_DIM = 256


class UnsupportedModelError(ValueError):
    """The GGUF describes a model this converter cannot turn into an equivalent mlx-lm model."""


def architecture(meta: Mapping[str, Any]) -> str:
    arch = meta.get("general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedModelError(
            f"GGUF architecture {arch!r} is not supported; supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    return str(arch)


def gemma3_config(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The mlx-lm config for a gemma3 GGUF (raises UnsupportedModelError for features mlx-lm lacks)."""
    arch = architecture(meta)

    def get(key: str, default: Any = None) -> Any:
        return meta.get(f"{arch}.{key}", default)

    def need(key: str) -> Any:
        value = get(key)
        if value is None:
            raise UnsupportedModelError(f"GGUF metadata lacks {arch}.{key}")
        return value

    if get("final_logit_softcapping") or get("attn_logit_softcapping"):
        raise UnsupportedModelError("logit soft-capping is not implemented by mlx-lm's gemma3_text")
    head_dim = int(get("attention.key_length", DEFAULT_HEAD_DIM))
    if int(get("attention.value_length", head_dim)) != head_dim:
        raise UnsupportedModelError("gemma3_text needs equal key and value head sizes")
    hidden = int(need("embedding_length"))
    heads = int(need("attention.head_count"))
    tokens = meta["tokenizer.ggml.tokens"]
    types = meta["tokenizer.ggml.token_type"]
    context = int(get("context_length", 32768))

    config: dict[str, Any] = {
        "model_type": "gemma3_text",
        "architectures": ["Gemma3ForCausalLM"],
        "hidden_size": hidden,
        "num_hidden_layers": int(need("block_count")),
        "intermediate_size": int(need("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "rms_norm_eps": float(get("attention.layer_norm_rms_epsilon", 1e-6)),
        "vocab_size": len(tokens),
        "rope_theta": float(get("rope.freq_base", 1_000_000.0)),
        "rope_local_base_freq": float(get("rope.freq_base_swa", DEFAULT_ROPE_LOCAL_BASE)),
        # llama.cpp scales queries by 1/sqrt(head_dim) for every gemma3 size but the 27B, which uses
        # hidden/heads; the GGUF does not record query_pre_attn_scalar, so follow the same rule.
        "query_pre_attn_scalar": hidden // heads if _is_27b(meta, arch) else head_dim,
        "sliding_window": int(need("attention.sliding_window")),
        "sliding_window_pattern": _sliding_window_pattern(get("attention.sliding_window_pattern")),
        "max_position_embeddings": context,
        "rope_scaling": _rope_scaling(get("rope.scaling.type"), get("rope.scaling.factor")),
        "tie_word_embeddings": True,  # corrected by the converter when the GGUF has an `output` tensor
        "bos_token_id": int(meta["tokenizer.ggml.bos_token_id"]),
        "eos_token_id": end_of_turn_ids(tokens, types, int(meta["tokenizer.ggml.eos_token_id"])),
    }
    if (pad := meta.get("tokenizer.ggml.padding_token_id")) is not None:
        config["pad_token_id"] = int(pad)
    return config


def _is_27b(meta: Mapping[str, Any], arch: str) -> bool:
    # llama.cpp decides by block count (62 layers is the 27B).
    return int(meta.get(f"{arch}.block_count", 0)) == 62


def _sliding_window_pattern(value: Any) -> int:
    """mlx-lm wants a period N (layers N-1, 2N-1, ... are global); newer GGUFs may store one flag per
    layer (true = sliding window) instead of a number."""
    if value is None:
        return DEFAULT_SLIDING_WINDOW_PATTERN
    if isinstance(value, int | float):
        return int(value)
    flags = [bool(v) for v in value]
    if all(flags):
        raise UnsupportedModelError("gemma3_text needs at least one global-attention layer")
    period = flags.index(False) + 1
    if flags != [(i + 1) % period != 0 for i in range(len(flags))]:
        raise UnsupportedModelError("the GGUF's sliding-window layers do not repeat with a fixed period")
    return period


def _rope_scaling(kind: Any, factor: Any) -> dict[str, Any] | None:
    if kind in (None, "none") or factor in (None, 0, 1, 1.0):
        return None
    if kind != "linear":
        raise UnsupportedModelError(f"rope scaling {kind!r} is not supported (only linear)")
    return {"rope_type": "linear", "factor": float(factor)}
