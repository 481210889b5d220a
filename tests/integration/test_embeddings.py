"""POST /v1/embeddings through the official SDK, with the bundled MiniLM model (on the no-model server:
embeddings need no chat model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openai
import pytest

from assistants.retrieval.embedder import BUNDLED_MODEL_ID, bundled_files
from tests.serverproc import ServerProcess

MODEL = BUNDLED_MODEL_ID


def _vectors(response: openai.types.CreateEmbeddingResponse) -> np.ndarray:
    return np.array([item.embedding for item in response.data], dtype=np.float32)


def test_text_embeddings_are_unit_vectors_that_put_paraphrases_together(client: openai.OpenAI) -> None:
    texts = ["The cat sat on the mat.", "A feline rested on a rug.", "Stock markets fell sharply today."]
    response = client.embeddings.create(model=MODEL, input=texts)
    assert response.model == MODEL and response.object == "list"
    assert [item.index for item in response.data] == [0, 1, 2]
    vectors = _vectors(response)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2
    assert response.usage.prompt_tokens == response.usage.total_tokens > 0


def test_float_and_base64_encodings_carry_the_same_vector(client: openai.OpenAI) -> None:
    as_float = client.embeddings.create(model=MODEL, input="hello world", encoding_format="float")
    # The SDK asks for base64 when no format is given, and decodes it itself.
    as_base64 = client.embeddings.create(model=MODEL, input="hello world")
    assert np.array_equal(_vectors(as_float), _vectors(as_base64))


def test_token_arrays_embed_as_the_text_they_spell(client: openai.OpenAI) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bundled_files()[1]))
    tokenizer.no_padding()  # the shipped tokenizer.json pads to 128
    ids = tokenizer.encode("vector stores hold chunks", add_special_tokens=False).ids
    text = client.embeddings.create(model=MODEL, input="vector stores hold chunks", encoding_format="float")
    one = client.embeddings.create(model=MODEL, input=ids, encoding_format="float")
    many = client.embeddings.create(model=MODEL, input=[ids, ids[:2]], encoding_format="float")
    assert np.allclose(_vectors(text), _vectors(one), atol=1e-6)
    assert len(many.data) == 2 and np.allclose(_vectors(many)[0], _vectors(one)[0], atol=1e-6)
    assert one.usage.prompt_tokens == len(ids)


def test_the_default_alias_and_the_native_dimensions_are_accepted(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model="default", input="x", dimensions=384)
    assert response.model == MODEL and len(response.data[0].embedding) == 384


@pytest.mark.parametrize(("kwargs", "status", "param"), [
    ({"input": ""}, 400, "input"),
    ({"input": []}, 400, "input"),
    ({"input": ["ok", ""]}, 400, "input"),
    ({"input": [[]]}, 400, "input"),
    ({"input": [1, "a"]}, 400, "input"),
    ({"input": [10**9]}, 400, "input"),
    ({"input": ["x"] * 2049}, 400, "input"),
    ({"input": "x", "dimensions": 256}, 400, "dimensions"),
    ({"input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
    ({"input": "x", "model": "text-embedding-3-small"}, 404, "model"),
])
def test_bad_requests_are_4xx_with_the_offending_param(client: openai.OpenAI, kwargs: dict, status: int,
                                                      param: str) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.embeddings.create(**{"model": MODEL, **kwargs})
    assert caught.value.status_code == status
    assert caught.value.body["param"] == param  # type: ignore[index]


def test_an_operators_gguf_embedding_model_serves_embeddings_and_search(bundled_model: Path,
                                                                        tmp_path: Path) -> None:
    """--embedding-model takes a GGUF (here the bundled chat model, run in llama.cpp's embedding mode):
    /v1/embeddings and the chunk index both follow its dimensions."""
    with ServerProcess(tmp_path / "data", "--no-model", "--embedding-model", str(bundled_model)) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0)
        response = client.embeddings.create(model=bundled_model.stem, input=["one", "two words"])
        assert _vectors(response).shape == (2, 640)
        file_id = client.files.create(file=("n.txt", b"Nimbleweed grows on basalt."), purpose="assistants").id
        result = client.vector_stores.files.create_and_poll(
            vector_store_id=client.vector_stores.create(name="gguf").id, file_id=file_id,
            poll_interval_ms=100)
        assert result.status == "completed", result.last_error
