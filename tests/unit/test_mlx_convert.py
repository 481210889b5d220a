"""GGUF -> MLX conversion on a tiny synthetic gemma3 GGUF (fast; the bundled model is covered by
tests/integration/test_mlx_model.py)."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf.quants import dequantize, quantize

# Imported before mlx so that mlx binds an optimized BLAS (see assistants/inference/mlx/blas.py);
# mlx and mlx_lm are therefore imported inside the tests.
from assistants.inference.mlx import UnsupportedModelError, convert_gguf
from assistants.inference.mlx.config import gemma3_config
from assistants.inference.mlx.names import UnknownTensorError, is_shifted_norm, mlx_name
from assistants.settings import build_parser

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN, LAYERS = 64, 2, 1, 32, 128, 6  # 5 sliding + 1 global
CONTROL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
USER_DEFINED = ["\n", "\n\n", "  "]
NORMAL = ["▁", "a", "b", "c", "ab", "▁ab", "abc", "▁c", "ca", "x"]
BYTES = [f"<0x{i:02X}>" for i in range(256)]


def tiny_vocab() -> tuple[list[str], list[float], list[int]]:
    tokens = CONTROL + USER_DEFINED + BYTES + NORMAL
    types = [3] * len(CONTROL) + [4] * len(USER_DEFINED) + [6] * 256 + [1] * len(NORMAL)
    specials = len(CONTROL) + len(USER_DEFINED)
    scores = [-1000.0] * specials + [0.0] * 256 + [-float(i) for i in range(len(NORMAL))]
    return tokens, scores, types


def write_tiny_gguf(path: Path, arch: str = "gemma3", seed: int = 0) -> dict[str, np.ndarray]:
    """A 6-layer gemma3 GGUF with Q8_0 matrices and F32 norms; returns name -> the float32 values stored."""
    rng = np.random.default_rng(seed)
    tokens, scores, types = tiny_vocab()
    writer = gguf.GGUFWriter(path, arch)
    writer.add_context_length(1024)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_sliding_window(128)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(False)

    stored: dict[str, np.ndarray] = {}

    def matrix(name: str, rows: int, cols: int) -> None:  # numpy (rows, cols) = (out, in)
        q = quantize(rng.standard_normal((rows, cols)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        stored[name] = dequantize(q, gguf.GGMLQuantizationType.Q8_0)

    def vector(name: str, size: int) -> None:
        values = (1.0 + 0.1 * rng.standard_normal(size)).astype(np.float32)
        writer.add_tensor(name, values)
        stored[name] = values

    matrix("token_embd.weight", len(tokens), HIDDEN)
    vector("output_norm.weight", HIDDEN)
    for b in range(LAYERS):
        matrix(f"blk.{b}.attn_q.weight", HEADS * HEAD_DIM, HIDDEN)
        matrix(f"blk.{b}.attn_k.weight", KV_HEADS * HEAD_DIM, HIDDEN)
        matrix(f"blk.{b}.attn_v.weight", KV_HEADS * HEAD_DIM, HIDDEN)
        matrix(f"blk.{b}.attn_output.weight", HIDDEN, HEADS * HEAD_DIM)
        matrix(f"blk.{b}.ffn_gate.weight", FFN, HIDDEN)
        matrix(f"blk.{b}.ffn_up.weight", FFN, HIDDEN)
        matrix(f"blk.{b}.ffn_down.weight", HIDDEN, FFN)
        for norm, size in [("attn_q_norm", HEAD_DIM), ("attn_k_norm", HEAD_DIM), ("attn_norm", HIDDEN),
                           ("post_attention_norm", HIDDEN), ("ffn_norm", HIDDEN), ("post_ffw_norm", HIDDEN)]:
            vector(f"blk.{b}.{norm}.weight", size)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return stored


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], Path]:
    root = tmp_path_factory.mktemp("tiny")
    stored = write_tiny_gguf(root / "tiny.gguf")
    convert_gguf(root / "tiny.gguf", root / "mlx", progress=False)
    return root / "tiny.gguf", stored, root / "mlx"


def test_names_map_llama_cpp_to_mlx_lm() -> None:
    assert mlx_name("token_embd.weight") == "model.embed_tokens.weight"
    assert mlx_name("output_norm.weight") == "model.norm.weight"
    assert mlx_name("output.weight") == "lm_head.weight"
    assert mlx_name("blk.17.attn_q.weight") == "model.layers.17.self_attn.q_proj.weight"
    assert mlx_name("blk.0.attn_k_norm.weight") == "model.layers.0.self_attn.k_norm.weight"
    assert mlx_name("blk.3.ffn_norm.weight") == "model.layers.3.pre_feedforward_layernorm.weight"
    assert mlx_name("blk.3.post_ffw_norm.weight") == "model.layers.3.post_feedforward_layernorm.weight"
    assert mlx_name("blk.3.ffn_down.weight") == "model.layers.3.mlp.down_proj.weight"
    with pytest.raises(UnknownTensorError):
        mlx_name("blk.0.ffn_gate_exps.weight")
    assert is_shifted_norm("blk.0.attn_q_norm.weight") and not is_shifted_norm("blk.0.attn_q.weight")


def test_every_weight_lands_in_mlx_lm_with_its_values(tiny: tuple[Path, dict[str, np.ndarray], Path]) -> None:
    from mlx_lm.utils import load_model

    _, stored, out = tiny
    model, _ = load_model(out)  # strict: fails on any missing, extra or mis-shaped parameter
    params = dict(_flatten(model.parameters()))
    assert "lm_head.weight" not in params  # tied embedding, as in the GGUF (no `output` tensor)
    for gguf_name, values in stored.items():
        got = np.array(params[mlx_name(gguf_name)])
        # Norms are stored +1 by llama.cpp; mlx-lm's Gemma RMSNorm adds the 1 itself.
        expected = values - 1.0 if gguf_name.endswith("norm.weight") else values
        assert got.shape == expected.shape, gguf_name
        np.testing.assert_array_equal(got, expected, err_msg=gguf_name)
    # GGUF lists dims innermost first; mlx-lm's Linear wants (out_features, in_features).
    assert params["model.layers.0.self_attn.k_proj.weight"].shape == (KV_HEADS * HEAD_DIM, HIDDEN)
    assert params["model.layers.1.mlp.down_proj.weight"].shape == (HIDDEN, FFN)


def test_config_comes_from_metadata(tiny: tuple[Path, dict[str, np.ndarray], Path]) -> None:
    _, _, out = tiny
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "gemma3_text"
    assert config["hidden_size"] == HIDDEN and config["intermediate_size"] == FFN
    assert config["num_hidden_layers"] == LAYERS
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]) == (2, 1, 32)
    assert config["query_pre_attn_scalar"] == HEAD_DIM
    assert config["sliding_window"] == 128 and config["sliding_window_pattern"] == 6
    assert config["rope_theta"] == 1_000_000.0 and config["rope_local_base_freq"] == 10_000.0
    assert config["max_position_embeddings"] == 1024
    assert config["vocab_size"] == len(tiny_vocab()[0])
    assert config["eos_token_id"] == [1, 5]  # <eos> and <end_of_turn>, like llama.cpp's end-of-generation set
    assert config["tie_word_embeddings"] is True and "quantization" not in config


def test_converted_model_runs(tiny: tuple[Path, dict[str, np.ndarray], Path]) -> None:
    import mlx.core as mx
    from mlx_lm.utils import load_model

    _, _, out = tiny
    model, _ = load_model(out)
    logits = model(mx.array([[2, 270, 271, 272]]))
    assert logits.shape == (1, 4, len(tiny_vocab()[0]))
    assert bool(mx.all(mx.isfinite(logits)))


def test_tokenizer_matches_sentencepiece_rules(tiny: tuple[Path, dict[str, np.ndarray], Path]) -> None:
    from tokenizers import Tokenizer

    _, _, out = tiny
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    tokens = tiny_vocab()[0]

    def pieces(text: str) -> list[str]:
        return [tokens[i] for i in tokenizer.encode(text).ids]

    assert pieces("ab") == ["<bos>", "ab"]
    # The best-scoring merge goes first (scores: ab -4 > ▁ab -5 > abc -6 > ca -8), as in llama.cpp:
    assert pieces(" abc") == ["<bos>", "▁ab", "c"]  # ▁ a b c -> ▁ ab c -> ▁ab c (not ▁ abc)
    assert pieces("cab") == ["<bos>", "c", "ab"]  # not "ca" + "b"
    assert pieces(" ab c") == ["<bos>", "▁ab", "▁c"]
    # Control and user-defined tokens are matched on the raw text, before spaces become "▁".
    assert pieces("<start_of_turn>a\n\nb  c") == ["<bos>", "<start_of_turn>", "a", "\n\n", "b", "  ", "c"]
    # Unknown characters fall back to UTF-8 byte tokens.
    assert pieces("é") == ["<bos>", "<0xC3>", "<0xA9>"]
    assert tokenizer.decode(tokenizer.encode("ab é\n c").ids) == "ab é\n c"
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert (config["bos_token"], config["eos_token"], config["add_bos_token"]) == ("<bos>", "<eos>", True)


def test_q8_quantization_writes_mlx_quantization_config(
    tmp_path: Path, tiny: tuple[Path, dict, Path]
) -> None:
    import mlx.core as mx
    from mlx_lm.utils import load_model

    src, stored, _ = tiny
    convert_gguf(src, tmp_path / "q8", quantize="q8", progress=False)
    config = json.loads((tmp_path / "q8" / "config.json").read_text())
    assert config["quantization"] == {"group_size": 64, "bits": 8, "mode": "affine"}
    model, _ = load_model(tmp_path / "q8")
    proj = model.model.layers[0].mlp.gate_proj
    assert type(proj).__name__ == "QuantizedLinear" and proj.bits == 8
    restored = mx.dequantize(proj.weight, proj.scales, proj.biases, group_size=64, bits=8)
    np.testing.assert_allclose(np.array(restored), stored["blk.0.ffn_gate.weight"], atol=0.05)


def test_unsupported_architecture_is_refused_cleanly(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "llama.gguf", arch="llama")
    with pytest.raises(UnsupportedModelError, match=r"'llama'.*supported: gemma3"):
        convert_gguf(tmp_path / "llama.gguf", tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llama.gguf"]  # nothing half-written


def test_existing_destination_is_not_overwritten(tmp_path: Path, tiny: tuple[Path, dict, Path]) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        convert_gguf(tiny[0], tmp_path / "out", progress=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_metadata_variants() -> None:
    tokens, _, types = tiny_vocab()
    base = {
        "general.architecture": "gemma3", "gemma3.embedding_length": 64, "gemma3.block_count": 12,
        "gemma3.feed_forward_length": 128, "gemma3.attention.head_count": 2,
        "gemma3.attention.sliding_window": 64,
        "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.bos_token_id": 2, "tokenizer.ggml.eos_token_id": 1,
    }
    config = gemma3_config(base)
    assert config["num_key_value_heads"] == 2 and config["head_dim"] == 256 and config["rope_scaling"] is None
    flags = [(i + 1) % 4 != 0 for i in range(12)]  # per-layer sliding flags, global every 4th layer
    scaled = {**base, "gemma3.attention.sliding_window_pattern": flags,
              "gemma3.rope.scaling.type": "linear", "gemma3.rope.scaling.factor": 8.0}
    config = gemma3_config(scaled)
    assert config["sliding_window_pattern"] == 4
    assert config["rope_scaling"] == {"rope_type": "linear", "factor": 8.0}
    with pytest.raises(UnsupportedModelError, match="soft-capping"):
        gemma3_config({**base, "gemma3.final_logit_softcapping": 30.0})
    with pytest.raises(UnsupportedModelError, match="embedding_length"):
        gemma3_config({k: v for k, v in base.items() if k != "gemma3.embedding_length"})


def test_cli_parses_convert_gguf() -> None:
    args = build_parser().parse_args(["convert-gguf", "in.gguf", "out", "--quantize", "q4"])
    assert (args.command, args.src, args.dst, args.quantize, args.dtype) == (
        "convert-gguf", Path("in.gguf"), Path("out"), "q4", "float32")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["convert-gguf", "in.gguf", "out", "--quantize", "q3"])


def _flatten(tree: object, prefix: str = "") -> list[tuple[str, object]]:
    from mlx.utils import tree_flatten

    return tree_flatten(tree, prefix=prefix)
