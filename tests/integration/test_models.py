"""GET /v1/models and /v1/models/{id}, including ids with a slash (sent as %2F by the SDK)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.serverproc import ServerProcess


def test_list_and_retrieve_the_served_model(model_client: openai.OpenAI) -> None:
    models = model_client.models.list()
    assert [m.id for m in models.data] == ["gemma-3-270m-q4_k_m"]
    model = model_client.models.retrieve("gemma-3-270m-q4_k_m")
    assert model.object == "model" and model.owned_by and isinstance(model.created, int)


def test_unknown_model_is_404(model_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        model_client.models.retrieve("org/other-model")
    assert "org/other-model" in caught.value.message


@pytest.fixture(scope="module")
def aliased_server(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("alias-data"),
        "--model",
        str(bundled_model),
        "--model-alias",
        "google/gemma-3-270m",
        "--parallel",
        "1",
        "--ctx-size",
        "512",
    )
    with server.running(timeout=300):
        yield server


def test_alias_with_a_slash(aliased_server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=aliased_server.base_url + "/v1", api_key="t", max_retries=0, timeout=600)
    assert client.models.retrieve("google/gemma-3-270m").id == "google/gemma-3-270m"
    response = client.chat.completions.create(
        model="google/gemma-3-270m", max_tokens=1, messages=[{"role": "user", "content": "hi"}]
    )
    assert response.model == "google/gemma-3-270m"
