"""`--max-output-tokens`: an answer whose request sets no limit stops there, through every API that
decodes (chat, runs, responses); a limit the request sets is bounded by the context only. The server
is the session's `limits_server` (conftest.py)."""

from __future__ import annotations

import httpx
import openai

from tests.integration.conftest import LIMITS_CAP as CAP
from tests.serverproc import ServerProcess

PROMPT = [{"role": "user", "content": "Count from one to one hundred: one, two, three,"}]
"""A base model continues this for far more than CAP tokens (greedy, it does not stop)."""


def test_chat_without_a_limit_stops_at_the_cap(limits_client: openai.OpenAI) -> None:
    done = limits_client.chat.completions.create(model="default", temperature=0, messages=PROMPT)  # type: ignore[arg-type]
    assert done.choices[0].finish_reason == "length"
    assert done.usage is not None and done.usage.completion_tokens == CAP


def test_a_limit_the_request_sets_wins_over_the_cap(limits_client: openai.OpenAI) -> None:
    done = limits_client.chat.completions.create(model="default", temperature=0, max_tokens=CAP + 4,
                                                 messages=PROMPT)  # type: ignore[arg-type]
    assert done.usage is not None and done.usage.completion_tokens == CAP + 4


def test_run_without_a_limit_ends_incomplete_at_the_cap(limits_client: openai.OpenAI) -> None:
    assistant = limits_client.beta.assistants.create(model="default")
    run = limits_client.beta.threads.create_and_run_poll(assistant_id=assistant.id, temperature=0,
                                                         thread={"messages": PROMPT})  # type: ignore[typeddict-item]
    assert run.status == "incomplete"
    assert run.incomplete_details is not None and run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage is not None and run.usage.completion_tokens == CAP


def test_response_without_a_limit_ends_incomplete_at_the_cap(limits_client: openai.OpenAI) -> None:
    response = limits_client.responses.create(model="default", input=PROMPT[0]["content"], temperature=0)
    assert response.status == "incomplete"
    details = response.incomplete_details
    assert details is not None and details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == CAP


def test_props_reports_the_cap(limits_server: ServerProcess) -> None:
    params = httpx.get(limits_server.base_url + "/props").json()["default_generation_settings"]["params"]
    assert params["n_predict"] == CAP
