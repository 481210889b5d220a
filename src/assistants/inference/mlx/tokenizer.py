"""Build a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) from a GGUF's SentencePiece vocabulary.

The GGUF carries the vocabulary, one score per token and one type per token, but no merge list.
llama.cpp's SentencePiece tokenizer repeatedly merges the adjacent pair whose concatenation is the
highest-scoring vocabulary entry; a `tokenizers` BPE model reproduces that when its merges are ranked by
the score of the merged token. Control and user-defined tokens (`<start_of_turn>`, runs of newlines or
spaces, HTML tags) are matched on the raw text before that, as llama.cpp does, so they become added tokens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# llama.cpp token types (llama_token_type / gguf.TokenType).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Control tokens that end a turn. llama.cpp adds these to its end-of-generation set by name, so the MLX
# model must stop on them too (the GGUF's `eos_token_id` alone is the end of a document, not of a turn).
END_OF_TURN_NAMES = ("<end_of_turn>", "<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>", "<|eom_id|>")

SPIECE_SPACE = "\u2581"  # "▁", SentencePiece's visible space


class UnsupportedTokenizerError(ValueError):
    """The GGUF's tokenizer is not a SentencePiece (`llama`) vocabulary."""


def merges_from_scores(
    tokens: Sequence[str], scores: Sequence[float], types: Sequence[int]
) -> list[tuple[str, str]]:
    """BPE merges ranked like llama.cpp's SentencePiece merging: best merged-token score first.

    Only NORMAL tokens take part: control and user-defined tokens are split off the text before the
    merging starts, and byte tokens (`<0x41>`) are a fallback, never a merge result.
    """
    normal = {tok: i for i, tok in enumerate(tokens) if types[i] == NORMAL}
    ranked: list[tuple[float, int, int, str, str]] = []
    for merged, merged_id in normal.items():
        for cut in range(1, len(merged)):
            left, right = merged[:cut], merged[cut:]
            if left in normal and right in normal:
                # Highest score first; for equal scores llama.cpp takes the leftmost pair, which the
                # longer left part approximates best when two splits make the same token.
                ranked.append((-scores[merged_id], -len(left), merged_id, left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def end_of_turn_ids(tokens: Sequence[str], types: Sequence[int], eos_id: int) -> list[int]:
    """The GGUF's eos token followed by any control token that llama.cpp also treats as end of generation."""
    ids = [eos_id]
    for name in END_OF_TURN_NAMES:
        try:
            token_id = tokens.index(name)
        except ValueError:
            continue
        if types[token_id] == CONTROL and token_id not in ids:
            ids.append(token_id)
    return ids


def build_tokenizer_json(meta: Mapping[str, Any]) -> str:
    """The `tokenizer.json` text for a GGUF whose metadata is `meta` (field name -> value)."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, processors
    from tokenizers.models import BPE

    model = meta.get("tokenizer.ggml.model")
    if model != "llama":
        raise UnsupportedTokenizerError(
            f"tokenizer.ggml.model is {model!r}; only SentencePiece ('llama') vocabularies are supported"
        )
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    scores: list[float] = [float(s) for s in meta["tokenizer.ggml.scores"]]
    types: list[int] = [int(t) for t in meta["tokenizer.ggml.token_type"]]
    if len(set(tokens)) != len(tokens):
        raise UnsupportedTokenizerError("the GGUF vocabulary has duplicate token strings")
    unk = tokens[int(meta.get("tokenizer.ggml.unknown_token_id", 0))]
    bos_id = int(meta["tokenizer.ggml.bos_token_id"])

    bpe = BPE(
        vocab={tok: i for i, tok in enumerate(tokens)},
        merges=merges_from_scores(tokens, scores, types),
        unk_token=unk,
        fuse_unk=True,
        byte_fallback=True,
    )
    tokenizer = Tokenizer(bpe)
    if meta.get("tokenizer.ggml.add_space_prefix", True):
        # Llama-style SentencePiece prepends "▁" to the text; Gemma's GGUF says not to.
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.Prepend(SPIECE_SPACE), normalizers.Replace(" ", SPIECE_SPACE)]
        )
    else:
        tokenizer.normalizer = normalizers.Replace(" ", SPIECE_SPACE)
    # No pre-tokenizer: llama.cpp runs the merges over each whole text fragment, not per word.
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(SPIECE_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    # Both kinds are matched on the raw text; only control tokens are "special" (skipped when decoding).
    user_defined = [tok for tok, kind in zip(tokens, types, strict=True) if kind == USER_DEFINED]
    control = [tok for tok, kind in zip(tokens, types, strict=True) if kind == CONTROL]
    tokenizer.add_tokens([AddedToken(tok, special=False, normalized=False) for tok in user_defined])
    tokenizer.add_special_tokens([AddedToken(tok, special=True, normalized=False) for tok in control])
    if meta.get("tokenizer.ggml.add_bos_token", True):
        bos = tokens[bos_id]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    return tokenizer.to_str()


def tokenizer_config(meta: Mapping[str, Any], context_length: int) -> dict[str, Any]:
    """`tokenizer_config.json`: the special tokens and BOS/EOS policy transformers needs to load it."""
    tokens = meta["tokenizer.ggml.tokens"]

    def name(key: str) -> str | None:
        token_id = meta.get(f"tokenizer.ggml.{key}_token_id")
        return None if token_id is None else tokens[int(token_id)]

    config: dict[str, Any] = {
        # The generic fast tokenizer loads tokenizer.json as is; a model-specific class would rebuild it.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": name("bos"),
        "eos_token": name("eos"),
        "unk_token": name("unknown"),
        "pad_token": name("padding"),
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", True)),
        "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": context_length,
    }
    if template := meta.get("tokenizer.chat_template"):
        config["chat_template"] = template
    return {k: v for k, v in config.items() if v is not None}


def write_tokenizer(meta: Mapping[str, Any], directory: Path, context_length: int) -> None:
    (directory / "tokenizer.json").write_text(build_tokenizer_json(meta), encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(meta, context_length), indent=2, ensure_ascii=False), encoding="utf-8"
    )
