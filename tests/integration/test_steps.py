"""Run steps through the API (without a model a run has none; step rows are unit-tested in the store)."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_steps_of_a_queued_run(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    page = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
    assert (page.data, page.has_more, page.first_id) == ([], False, None)
    # include[] is accepted (and has nothing to add here)
    client.beta.threads.runs.steps.list(
        run.id, thread_id=thread.id, include=["step_details.tool_calls[*].file_search.results[*].content"]
    )
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.retrieve("step_nope", run_id=run.id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.list("run_nope", thread_id=thread.id)
