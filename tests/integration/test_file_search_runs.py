"""file_search in runs with the real model: the run searches the assistant's (or the thread's) vector
store with the user's message, records a file_search tool_calls step (content only with include[]),
and answers with the excerpts in its prompt."""

from __future__ import annotations

import openai
import pytest

from tests.integration.test_vector_stores import FACTS, create_store_and_poll
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"


@pytest.fixture(scope="module")
def facts_store(model_server: ServerProcess) -> tuple[str, dict[str, str]]:
    model_client = openai.OpenAI(base_url=model_server.base_url + "/v1", api_key="test", max_retries=0)
    ids = {name: model_client.files.create(file=(name, text.encode()), purpose="assistants").id
           for name, text in FACTS.items()}
    store = create_store_and_poll(model_client, name="run facts", file_ids=list(ids.values()))
    assert store.status == "completed"
    return store.id, ids


def test_a_run_searches_the_assistants_store_and_records_the_step(
        model_client: openai.OpenAI, facts_store: tuple[str, dict[str, str]]) -> None:
    store_id, ids = facts_store
    assistant = model_client.beta.assistants.create(
        model="default", instructions="Answer from the excerpts.",
        tools=[{"type": "file_search", "file_search": {"max_num_results": 2}}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    assert assistant.tools[0].type == "file_search"
    assert assistant.tool_resources.file_search.vector_store_ids == [store_id]  # type: ignore[union-attr]
    thread = model_client.beta.threads.create(
        messages=[{"role": "user", "content": "Where is the Zorblat festival held?"}])
    run = model_client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                         max_completion_tokens=16, temperature=0)
    assert run.status in ("completed", "incomplete"), run.last_error  # incomplete: the token cap
    steps = model_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [step.type for step in steps] == ["tool_calls", "message_creation"]
    [call] = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert call.type == "file_search"
    results = call.file_search.results
    assert results and len(results) <= 2
    assert (results[0].file_id, results[0].file_name) == (ids["zorblat.md"], "zorblat.md")
    assert results[0].content is None  # not asked for
    shown = model_client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=thread.id, run_id=run.id,
                                                          include=[INCLUDE])
    content = shown.step_details.tool_calls[0].file_search.results[0].content  # type: ignore[union-attr]
    assert content and "Quexville" in content[0].text
    listed = model_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc",
                                                       include=[INCLUDE])
    assert listed.data[0].step_details.tool_calls[0].file_search.results[0].content  # type: ignore[union-attr]


def test_the_threads_store_is_searched_and_streams_the_step(
        model_client: openai.OpenAI, facts_store: tuple[str, dict[str, str]]) -> None:
    store_id, ids = facts_store
    assistant = model_client.beta.assistants.create(model="default", tools=[{"type": "file_search"}])
    thread = model_client.beta.threads.create(
        messages=[{"role": "user", "content": "Who built the first seaweed engine?"}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    events = []
    with model_client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                               max_completion_tokens=8, temperature=0) as stream:
        for event in stream:
            events.append(event)
    names = [event.event for event in events]
    assert {"thread.run.completed", "thread.run.incomplete"} & set(names), names
    steps = [event.data for event in events if event.event == "thread.run.step.completed"]
    assert steps[0].type == "tool_calls"
    first = steps[0].step_details.tool_calls[0].file_search.results[0]  # type: ignore[union-attr]
    assert first.file_id == ids["trivex.txt"]
    assert names.index("thread.run.step.completed") < names.index("thread.message.created")


def test_file_search_with_an_unknown_store_is_404(model_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        model_client.beta.assistants.create(model="default", tools=[{"type": "file_search"}],
                                            tool_resources={"file_search": {"vector_store_ids": ["vs_nope"]}})
    assert caught.value.body["param"] == "tool_resources.file_search.vector_store_ids"  # type: ignore[index]


def test_a_file_attached_to_a_message_creates_the_threads_store(model_client: openai.OpenAI) -> None:
    file_id = model_client.files.create(file=("orrery.txt",
                                              b"In the Hollin workshop every orrery gear is cut "
                                                            b"from walnut."), purpose="assistants").id
    assistant = model_client.beta.assistants.create(model="default", tools=[{"type": "file_search"}])
    thread = model_client.beta.threads.create()
    message = model_client.beta.threads.messages.create(
        thread.id, role="user", content="What are the orrery gears made of?",
        attachments=[{"file_id": file_id, "tools": [{"type": "file_search"}]}])
    assert message.attachments[0].file_id == file_id  # type: ignore[index]
    [store_id] = model_client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
    store = model_client.vector_stores.retrieve(store_id)
    assert store.expires_after is not None and store.expires_after.days == 7
    # The run is held until the attached file is ingested, then finds it.
    run = model_client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                         max_completion_tokens=8, temperature=0)
    steps = model_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert steps[0].step_details.tool_calls[0].file_search.results[0].file_id == file_id  # type: ignore[union-attr]
    # A second attachment joins the same store.
    other = model_client.files.create(file=("more.txt", b"Walnut is oiled monthly."), purpose="assistants").id
    model_client.beta.threads.messages.create(thread.id, role="user", content="And?",
                                              attachments=[{"file_id": other,
                                                            "tools": [{"type": "file_search"}]}])
    assert model_client.vector_stores.retrieve(store_id).file_counts.total == 2


def test_bad_attachments(model_client: openai.OpenAI) -> None:
    thread = model_client.beta.threads.create()
    with pytest.raises(openai.NotFoundError) as caught:
        model_client.beta.threads.messages.create(thread.id, role="user", content="x",
                                                  attachments=[{"file_id": "file-nope",
                                                                "tools": [{"type": "file_search"}]}])
    assert caught.value.body["param"] == "attachments"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        model_client.beta.threads.messages.create(thread.id, role="user", content="x",
                                                  attachments=[{"file_id": "f",
                                                                "tools": [{"type": "code_interpreter"}]}])
    assert model_client.beta.threads.messages.list(thread.id).data == []


def test_the_vector_stores_helper_creates_the_threads_store(model_client: openai.OpenAI) -> None:
    file_id = model_client.files.create(file=("h.txt", b"Helper stores hold kelp notes."),
                                        purpose="assistants").id
    thread = model_client.beta.threads.create(tool_resources={"file_search": {"vector_stores": [
        {"file_ids": [file_id], "metadata": {"made": "by helper"}}]}})
    [store_id] = thread.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
    store = model_client.vector_stores.retrieve(store_id)
    assert store.metadata == {"made": "by helper"} and store.file_counts.total == 1
    with pytest.raises(openai.NotFoundError):
        model_client.beta.threads.create(tool_resources={"file_search": {"vector_stores": [
            {"file_ids": ["file-nope"]}]}})


def test_tool_choice_file_search_forces_the_search_and_none_skips_it(
        model_client: openai.OpenAI, facts_store: tuple[str, dict[str, str]]) -> None:
    store_id, ids = facts_store
    assistant = model_client.beta.assistants.create(
        model="default", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    thread = model_client.beta.threads.create(
        messages=[{"role": "user", "content": "Where is the Zorblat festival held?"}])
    run = model_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, tool_choice={"type": "file_search"},
        max_completion_tokens=8, temperature=0)
    assert run.status in ("completed", "incomplete"), run.last_error
    assert run.tool_choice.type == "file_search"  # type: ignore[union-attr]
    steps = model_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [step.type for step in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].file_search.results[0].file_id == ids["zorblat.md"]  # type: ignore[union-attr]
    quiet = model_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, tool_choice="none", max_completion_tokens=4,
        temperature=0)
    steps = model_client.beta.threads.runs.steps.list(quiet.id, thread_id=thread.id).data
    assert [step.type for step in steps] == ["message_creation"]
    # Forcing file_search on an assistant without it is refused, naming the field.
    bare = model_client.beta.assistants.create(model="default")
    with pytest.raises(openai.BadRequestError) as caught:
        model_client.beta.threads.runs.create(thread_id=thread.id, assistant_id=bare.id,
                                              tool_choice={"type": "file_search"})
    assert caught.value.body["param"] == "tool_choice"  # type: ignore[index]
