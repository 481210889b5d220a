"""`--max-output-tokens`: an answer whose request sets no limit stops there, through every API that
decodes (chat, runs, responses); a limit the request sets is bounded by the context only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.serverproc import ServerProcess

CAP = 5
PROMPT = "Count from one to one hundred: one, two, three,"
"""A base model continues this for far more than CAP tokens (greedy, it does not stop)."""


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("capped"), "--model", str(bundled_model),
                           "--parallel", "2", "--ctx-size", "2048", "--max-output-tokens", str(CAP))
    with server.running(timeout=300):
        yield server


@pytest.fixture(scope="module")
def client(capped_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=capped_server.base_url + "/v1", api_key="test", max_retries=0, timeout=300)


def test_chat_without_a_limit_stops_at_the_cap(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(model="default", temperature=0,
                                          messages=[{"role": "user", "content": PROMPT}])
    assert done.choices[0].finish_reason == "length"
    assert done.usage is not None and done.usage.completion_tokens == CAP


def test_a_limit_the_request_sets_wins_over_the_cap(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(model="default", temperature=0, max_tokens=CAP + 4,
                                          messages=[{"role": "user", "content": PROMPT}])
    assert done.usage is not None and done.usage.completion_tokens == CAP + 4


def test_run_without_a_limit_ends_incomplete_at_the_cap(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="default")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, temperature=0, thread={"messages": [{"role": "user", "content": PROMPT}]})
    assert run.status == "incomplete"
    assert run.incomplete_details is not None and run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage is not None and run.usage.completion_tokens == CAP


def test_response_without_a_limit_ends_incomplete_at_the_cap(client: openai.OpenAI) -> None:
    response = client.responses.create(model="default", input=PROMPT, temperature=0)
    assert response.status == "incomplete"
    details = response.incomplete_details
    assert details is not None and details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == CAP


def test_props_reports_the_cap(capped_server: ServerProcess) -> None:
    params = httpx.get(capped_server.base_url + "/props").json()["default_generation_settings"]["params"]
    assert params["n_predict"] == CAP
