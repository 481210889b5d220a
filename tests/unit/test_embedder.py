"""The bundled ONNX embedder itself: batching changes no vector, long texts are embedded whole."""

from __future__ import annotations

import numpy as np
import pytest

from assistants.retrieval.embedder import OnnxEmbedder, load_embedder


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return load_embedder(None)  # type: ignore[return-value]


def test_a_batch_embeds_each_text_as_it_would_alone(embedder: OnnxEmbedder) -> None:
    texts = ["short", "a somewhat longer sentence about retrieval", "mid length text here"]
    tokens = embedder.tokenize(texts)
    together = embedder.embed_tokens(tokens)
    alone = np.vstack([embedder.embed_tokens([ids]) for ids in tokens])
    assert np.allclose(together, alone, atol=1e-5)


def test_a_text_longer_than_the_window_is_the_mean_of_its_windows(embedder: OnnxEmbedder) -> None:
    first, second = "alpha " * 254, "omega " * 254
    [ids] = embedder.tokenize([first + second])
    assert len(ids) == 508  # two full windows of 254 tokens
    whole = embedder.embed_tokens([ids])[0]
    parts = embedder.embed_tokens([ids[:254], ids[254:]])
    expected = parts.sum(axis=0) / np.linalg.norm(parts.sum(axis=0))
    assert np.allclose(whole, expected, atol=1e-5)
    assert not np.allclose(whole, parts[0], atol=1e-2)


def test_token_offsets_point_at_the_text(embedder: OnnxEmbedder) -> None:
    text = "Hello, World!"
    ids, spans = embedder.encode(text)
    assert [text[start:end] for start, end in spans] == ["Hello", ",", "World", "!"]
    assert ids == embedder.tokenize([text])[0]
