"""llama.cpp GGUF tensor names -> mlx-lm `gemma3_text` parameter names.

Pure string work (no mlx, no numpy) so it is cheap to test.
"""

from __future__ import annotations

import re

# Per-block tensors. llama.cpp's names (gguf-py `tensor_mapping.py`) on the left, the Hugging Face /
# mlx-lm module paths under `model.layers.N.` on the right.
_BLOCK_NAMES: dict[str, str] = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "attn_norm": "input_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}

_GLOBAL_NAMES: dict[str, str] = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    # Only present when the output projection is not tied to the embedding.
    "output": "lm_head",
}

_BLOCK = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$")
_GLOBAL = re.compile(r"^([a-z_]+)\.(weight|bias)$")


class UnknownTensorError(ValueError):
    """A GGUF tensor that the gemma3 mapping does not know; converting without it would be wrong."""


def mlx_name(gguf_name: str) -> str:
    """The mlx-lm parameter path for a llama.cpp tensor name, e.g. `blk.3.attn_q.weight` ->
    `model.layers.3.self_attn.q_proj.weight`."""
    if match := _BLOCK.match(gguf_name):
        block, base, kind = match.groups()
        if base in _BLOCK_NAMES:
            return f"model.layers.{block}.{_BLOCK_NAMES[base]}.{kind}"
    elif (match := _GLOBAL.match(gguf_name)) and match.group(1) in _GLOBAL_NAMES:
        return f"{_GLOBAL_NAMES[match.group(1)]}.{match.group(2)}"
    raise UnknownTensorError(f"no gemma3 mapping for GGUF tensor {gguf_name!r}")


def is_shifted_norm(gguf_name: str) -> bool:
    """True for RMSNorm weights, which llama.cpp's converter stores as `w + 1`.

    Gemma's RMSNorm computes `x * (1 + w)`. llama.cpp's `convert_hf_to_gguf.py` (Gemma3Model,
    `norm_shift = 1.0` for every name ending in `norm.weight`) folds the `+ 1` into the stored tensor,
    while mlx-lm's `gemma3_text.RMSNorm` adds it at run time (`rms_norm(x, 1.0 + weight)`), so the
    converter must subtract it again.
    """
    return gguf_name.endswith("norm.weight")
