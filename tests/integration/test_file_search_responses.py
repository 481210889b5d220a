"""file_search on /v1/responses with the official SDK and the real model: the response searches the
tool's vector stores before answering, shows a `file_search_call` output item (results only with
`include=["file_search_call.results"]`), streams the file_search events the SDK knows, honours
`max_num_results` and attribute `filters`, and annotates quoted text with file citations; in the
foreground, in a stream and in the background."""

from __future__ import annotations

import time

import openai
import pytest

from tests.integration.test_vector_stores import FACTS, create_store_and_poll
from tests.serverproc import ServerProcess

RESULTS = "file_search_call.results"


@pytest.fixture(scope="module")
def facts(model_server: ServerProcess) -> tuple[str, dict[str, str]]:
    client = openai.OpenAI(base_url=model_server.base_url + "/v1", api_key="test", max_retries=0)
    ids = {name: client.files.create(file=(name, text.encode()), purpose="assistants").id
           for name, text in FACTS.items()}
    store = create_store_and_poll(client, name="response facts", file_ids=list(ids.values()))
    assert store.status == "completed"
    for name, file_id in ids.items():  # attributes to filter on
        client.vector_stores.files.update(file_id, vector_store_id=store.id,
                                          attributes={"kind": name.rsplit(".", 1)[1]})
    return store.id, ids


def test_a_response_searches_and_shows_the_call(model_client: openai.OpenAI,
                                                facts: tuple[str, dict[str, str]]) -> None:
    store_id, ids = facts
    response = model_client.responses.create(
        model="default", input="Where is the Zorblat festival held?", max_output_tokens=16, temperature=0,
        tools=[{"type": "file_search", "vector_store_ids": [store_id], "max_num_results": 2}],
        include=[RESULTS])
    assert response.status in ("completed", "incomplete"), response.error
    call, message = response.output
    assert call.type == "file_search_call" and call.status == "completed"
    assert call.queries == ["Where is the Zorblat festival held?"]
    assert call.results and len(call.results) <= 2
    best = call.results[0]
    assert (best.file_id, best.filename, best.attributes) == (ids["zorblat.md"], "zorblat.md", {"kind": "md"})
    assert "Quexville" in (best.text or "") and 0 < (best.score or 0) <= 1
    assert message.type == "message"
    tool = response.tools[0]
    assert tool.type == "file_search" and tool.vector_store_ids == [store_id] and tool.max_num_results == 2
    stored = model_client.responses.retrieve(response.id)
    assert stored.output[0].type == "file_search_call"
    # Without the include, the call shows no results.
    bare = model_client.responses.create(
        model="default", input="Where is the Zorblat festival held?", max_output_tokens=4, temperature=0,
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}])
    assert bare.output[0].type == "file_search_call" and bare.output[0].results is None


def test_usage_and_the_count_include_the_excerpts_in_the_prompt(model_client: openai.OpenAI,
                                                                facts: tuple[str, dict[str, str]]) -> None:
    store_id, _ = facts
    fields: dict = {"model": "default", "input": "Where is the Zorblat festival held?",
                    "tools": [{"type": "file_search", "vector_store_ids": [store_id], "max_num_results": 2}]}
    searched = model_client.responses.create(**fields, max_output_tokens=1, temperature=0, include=[RESULTS])
    plain = model_client.responses.create(**fields, tool_choice="none", max_output_tokens=1, temperature=0)
    assert searched.usage is not None and plain.usage is not None
    excerpts = [result.text or "" for result in searched.output[0].results or []]  # type: ignore[union-attr]
    assert excerpts and all(excerpts)
    # The prompt decoded carried the excerpts: more tokens than their words (tokens >= words here).
    assert searched.usage.input_tokens - plain.usage.input_tokens >= sum(len(e.split()) for e in excerpts)
    # The count makes the same search, so it agrees with what was decoded, with and without it.
    assert model_client.responses.input_tokens.count(**fields).input_tokens == searched.usage.input_tokens
    assert model_client.responses.input_tokens.count(**fields, tool_choice="none").input_tokens == \
        plain.usage.input_tokens


def test_filters_and_tool_choice(model_client: openai.OpenAI, facts: tuple[str, dict[str, str]]) -> None:
    store_id, ids = facts
    response = model_client.responses.create(
        model="default", input="Where is the Zorblat festival held?", max_output_tokens=4, temperature=0,
        tools=[{"type": "file_search", "vector_store_ids": [store_id],
                "filters": {"type": "eq", "key": "kind", "value": "txt"}}],
        tool_choice={"type": "file_search"}, include=[RESULTS])
    results = response.output[0].results  # type: ignore[union-attr]
    assert results and {result.file_id for result in results} == {ids["trivex.txt"]}
    assert response.tool_choice.type == "file_search"  # type: ignore[union-attr]
    quiet = model_client.responses.create(
        model="default", input="Hello", max_output_tokens=4, temperature=0, tool_choice="none",
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}])
    assert [item.type for item in quiet.output] == ["message"]


def test_the_stream_carries_the_file_search_events(model_client: openai.OpenAI,
                                                   facts: tuple[str, dict[str, str]]) -> None:
    store_id, ids = facts
    with model_client.responses.stream(
            model="default", input="Who built the first seaweed engine?", max_output_tokens=8, temperature=0,
            tools=[{"type": "file_search", "vector_store_ids": [store_id]}], include=[RESULTS]) as stream:
        events = list(stream)
    kinds = [event.type for event in events]
    final = events[-1].response  # type: ignore[union-attr]  # completed, or incomplete at the token cap
    assert events[-1].type in ("response.completed", "response.incomplete")
    searched = ["response.output_item.added", "response.file_search_call.in_progress",
                "response.file_search_call.searching", "response.file_search_call.completed",
                "response.output_item.done"]
    start = kinds.index("response.output_item.added")
    assert kinds[:start] == ["response.created", "response.in_progress"]
    assert kinds[start:start + len(searched)] == searched
    assert final.output[0].type == "file_search_call"
    assert final.output[0].results[0].file_id == ids["trivex.txt"]  # type: ignore[union-attr,index]


def test_a_background_response_searches_in_its_worker(model_client: openai.OpenAI,
                                                      facts: tuple[str, dict[str, str]]) -> None:
    store_id, ids = facts
    response = model_client.responses.create(
        model="default", input="Which lake do glimmerfish live in?", max_output_tokens=8, temperature=0,
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}], include=[RESULTS], background=True)
    assert response.status == "queued"
    deadline = time.monotonic() + 300
    while response.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.2)
        response = model_client.responses.retrieve(response.id)
    assert response.status in ("completed", "incomplete"), response.error
    assert response.output[0].results[0].file_id == ids["glimmer.html"]  # type: ignore[union-attr,index]
    replayed = [event.type for event in model_client.responses.retrieve(response.id, stream=True)]
    assert "response.file_search_call.completed" in replayed


def test_a_quoted_excerpt_is_cited(model_client: openai.OpenAI, facts: tuple[str, dict[str, str]]) -> None:
    # The answer is forced (a json_schema enum) to quote the file, so the test does not depend on a
    # 270M base model choosing to repeat a sentence; what it checks is the citation of the quote.
    store_id, ids = facts
    sentence = "The Zorblat festival is held every March in Quexville."
    schema = {"type": "object", "properties": {"quote": {"type": "string", "enum": [sentence]}},
              "required": ["quote"], "additionalProperties": False}
    response = model_client.responses.create(
        model="default", input=sentence, max_output_tokens=48, temperature=0,
        text={"format": {"type": "json_schema", "name": "quote", "schema": schema, "strict": True}},
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}])
    text = response.output[1].content[0]  # type: ignore[union-attr]
    assert sentence in text.text, text.text
    citation = text.annotations[0]
    assert (citation.type, citation.file_id, citation.filename) == ("file_citation", ids["zorblat.md"],
                                                                     "zorblat.md")
    assert text.text.index("Quexville") < citation.index <= len(text.text)  # type: ignore[union-attr]


@pytest.mark.parametrize(("tool", "param"), [
    ({"type": "file_search"}, "tools[0].vector_store_ids"),
    ({"type": "file_search", "vector_store_ids": []}, "tools[0].vector_store_ids"),
    ({"type": "file_search", "vector_store_ids": ["vs_x"], "max_num_results": 51},
     "tools[0].max_num_results"),
    ({"type": "file_search", "vector_store_ids": ["vs_x"], "filters": {"type": "eq"}}, "tools[0].filters"),
    ({"type": "file_search", "vector_store_ids": ["vs_x"],
      "ranking_options": {"hybrid_search": {"embedding_weight": 1, "text_weight": 0}}},
     "tools[0].ranking_options.hybrid_search"),
])
def test_bad_file_search_tools_are_400(model_client: openai.OpenAI, tool: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        model_client.responses.create(model="default", input="x", tools=[tool])  # type: ignore[list-item]
    assert caught.value.body["param"] == param  # type: ignore[index]


def test_unknown_stores_and_a_missing_tool(model_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        model_client.responses.create(model="default", input="x",
                                      tools=[{"type": "file_search", "vector_store_ids": ["vs_nope"]}])
    assert caught.value.body["param"] == "tools[0].vector_store_ids"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as refused:
        model_client.responses.create(model="default", input="x", tool_choice={"type": "file_search"})
    assert refused.value.body["param"] == "tool_choice"  # type: ignore[index]
