"""`--engine openai`: a server that decodes through another, real `assistants serve` process (the
bundled model) as its remote engine. One pair of servers for the module; the last test kills the
engine mid-run and restarts it on the same port.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from assistants.inference.kvdisk import file_name
from tests.integration.sse import read_until_done
from tests.integration.test_multiprocess import client_for, rows, wait_terminal
from tests.serverproc import ServerProcess

ENGINE_ARGS = ("--parallel", "4", "--ctx-size", "4096", "--no-worker", "--debug")
GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[tuple[ServerProcess,
                                                                                          ServerProcess]]:
    engine = ServerProcess(tmp_path_factory.mktemp("engine"), "--model", str(bundled_model), *ENGINE_ARGS)
    front_dir = tmp_path_factory.mktemp("front")
    front = ServerProcess(front_dir, "--engine", "openai", "--engine-url", engine.base_url + "/v1",
                          "--engine-concurrency", "4", "--heartbeat-timeout", "3", "--debug")
    try:
        engine.start(timeout=300)
        front.start(timeout=120)
        yield engine, front
    finally:
        front.stop()
        engine.stop()


@pytest.fixture()
def engine(pair: tuple[ServerProcess, ServerProcess]) -> ServerProcess:
    return pair[0]


@pytest.fixture()
def front(pair: tuple[ServerProcess, ServerProcess]) -> ServerProcess:
    return pair[1]


def in_flight(server: ServerProcess) -> int:
    """Sequences the engine server decodes now (its --debug inference view)."""
    return int(httpx.get(server.base_url + "/debug/inference", timeout=10).json()["active"])


def test_tokenize_and_detokenize_in_llama_server_shape(engine: ServerProcess) -> None:
    plain = httpx.post(engine.base_url + "/tokenize", json={"content": "Hello world"}).json()["tokens"]
    with_bos = httpx.post(engine.base_url + "/tokenize",
                          json={"content": "Hello world", "add_special": True}).json()["tokens"]
    assert with_bos == [2, *plain]  # Gemma's BOS, only when asked for (llama-server's default: not)
    back = httpx.post(engine.base_url + "/detokenize", json={"tokens": plain}).json()
    assert back == {"content": "Hello world"}
    bad = httpx.post(engine.base_url + "/detokenize", json={"tokens": [10**9]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tokens"


def test_tokenize_and_detokenize_through_the_front_ask_the_engine(engine: ServerProcess,
                                                                  front: ServerProcess) -> None:
    direct = httpx.post(engine.base_url + "/tokenize", json={"content": "Hello world"}).json()
    assert httpx.post(front.base_url + "/tokenize", json={"content": "Hello world"}).json() == direct
    back = httpx.post(front.base_url + "/detokenize", json={"tokens": direct["tokens"]})
    assert back.status_code == 200 and back.json() == {"content": "Hello world"}
    bad = httpx.post(front.base_url + "/detokenize", json={"tokens": [10**9]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tokens"


def test_token_id_prompts_on_completions(engine: ServerProcess) -> None:
    client = client_for(engine)
    ids = httpx.post(engine.base_url + "/tokenize", json={"content": "The capital of France is",
                                                          "add_special": True}).json()["tokens"]
    by_ids = client.completions.create(model="default", prompt=ids, max_tokens=6, **GREEDY)
    by_text = client.completions.create(model="default", prompt="The capital of France is", max_tokens=6,
                                        **GREEDY)
    assert by_ids.choices[0].text == by_text.choices[0].text
    assert by_ids.usage is not None and by_ids.usage.prompt_tokens == len(ids)


def test_chat_through_the_remote_engine_equals_the_engine_itself(engine: ServerProcess,
                                                                 front: ServerProcess) -> None:
    messages = [{"role": "user", "content": "Name three colours:"}]
    direct = client_for(engine).chat.completions.create(model="default", messages=messages, max_tokens=12,
                                                        **GREEDY)
    remote = client_for(front).chat.completions.create(model="default", messages=messages, max_tokens=12,
                                                       **GREEDY)
    assert remote.choices[0].message.content == direct.choices[0].message.content
    assert remote.usage is not None and direct.usage is not None
    assert (remote.usage.prompt_tokens, remote.usage.completion_tokens) == (
        direct.usage.prompt_tokens, direct.usage.completion_tokens)
    streamed = client_for(front).chat.completions.create(model="default", messages=messages, max_tokens=12,
                                                         stream=True, **GREEDY)
    pieces = [c.choices[0].delta.content for c in streamed if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == direct.choices[0].message.content
    models = client_for(front).models.list().data
    assert [m.id for m in models] == [client_for(engine).models.list().data[0].id]


def test_structured_output_passes_the_grammar_through(front: ServerProcess) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 12}},
              "required": ["colour"], "additionalProperties": False}
    answer = client_for(front).chat.completions.create(
        model="default", messages=[{"role": "user", "content": "A colour as JSON:"}], max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}, **GREEDY)
    assert set(json.loads(answer.choices[0].message.content or "")) == {"colour"}


def test_run_streams_token_events_and_counts_with_the_engine_tokenizer(front: ServerProcess) -> None:
    client = client_for(front)
    assistant = client.beta.assistants.create(model="default", instructions="Be brief.")
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=8, temperature=0,
        thread={"messages": [{"role": "user", "content": "Count to ten:"}]})
    frames = read_until_done(httpx.Client(base_url=front.base_url, timeout=120),
                             f"/v1/threads/{run.thread_id}/runs/{run.id}/events")
    deltas = [f for f in frames if f.event == "thread.message.delta"]
    (done,) = wait_terminal(client, [run])
    assert done.status in {"completed", "incomplete"} and done.usage is not None
    assert len(deltas) == done.usage.completion_tokens  # one event per streamed token
    (message,) = [m for m in client.beta.threads.messages.list(thread_id=run.thread_id).data
                  if m.role == "assistant"]
    text = message.content[0].text.value  # type: ignore[union-attr]
    streamed = "".join(json.loads(f.data)["delta"]["content"][0]["text"]["value"] for f in deltas)
    assert text and text == streamed


def test_cancel_closes_the_upstream_stream(engine: ServerProcess, front: ServerProcess) -> None:
    client = client_for(front)
    assistant = client.beta.assistants.create(model="default")
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=2000,
        thread={"messages": [{"role": "user", "content": "Write a very long story about the sea."}]})
    deadline = time.monotonic() + 120
    while in_flight(engine) == 0:
        assert time.monotonic() < deadline, "the run never reached the engine"
        time.sleep(0.1)
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
    assert cancelled.status in {"cancelling", "cancelled"}
    (done,) = wait_terminal(client, [run])
    assert done.status == "cancelled"
    # 2000 tokens would keep it decoding for over a minute: the closed stream frees it now.
    deadline = time.monotonic() + 30
    while in_flight(engine) != 0:
        assert time.monotonic() < deadline, "the engine kept decoding a cancelled run"
        time.sleep(0.2)


def test_function_tool_round(front: ServerProcess) -> None:
    client = client_for(front)
    tool = {"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                       "required": ["city"], "additionalProperties": False}}}
    assistant = client.beta.assistants.create(model="default", tools=[tool])  # type: ignore[list-item]
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False, max_completion_tokens=64, temperature=0,
        thread={"messages": [{"role": "user", "content": "What is the weather in Paris?"}]})
    assert run.status == "requires_action" and run.required_action is not None, run
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "Sunny, 21 C"}])
    assert done.status in {"completed", "incomplete"}


def test_deleting_a_thread_drops_its_kv_cache_on_the_engine(engine: ServerProcess,
                                                            front: ServerProcess) -> None:
    client = client_for(front)
    assistant = client.beta.assistants.create(model="default")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, max_completion_tokens=4, temperature=0,
        thread={"messages": [{"role": "user", "content": "Hello"}]})
    assert run.status in {"completed", "incomplete"}, run.last_error

    def files() -> list[Path]:  # the engine keeps the thread's prefix under the front's thread id
        return list((engine.data_dir / "kvcache").rglob(file_name(run.thread_id)))

    deadline = time.monotonic() + 60
    while not files():
        assert time.monotonic() < deadline, "the engine never cached the thread's prefix on disk"
        time.sleep(0.1)
    client.beta.threads.delete(run.thread_id)
    deadline = time.monotonic() + 60
    while files():
        assert time.monotonic() < deadline, "the deleted thread's KV stayed on the engine"
        time.sleep(0.1)


def test_engine_killed_mid_run_requeues_the_run_until_it_is_back(engine: ServerProcess,
                                                                 front: ServerProcess) -> None:
    client = client_for(front)
    assistant = client.beta.assistants.create(model="default")
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=48, temperature=0,
        thread={"messages": [{"role": "user", "content": "Write a long story about a lighthouse."}]})
    background = client.responses.create(model="default", input="Write a long story about a ship.",
                                         background=True, max_output_tokens=48, temperature=0)
    deadline = time.monotonic() + 120
    while not [m for m in client.beta.threads.messages.list(thread_id=run.thread_id).data
               if m.role == "assistant"]:
        assert time.monotonic() < deadline, "the run never started answering"
        time.sleep(0.1)
    engine.kill()
    # Chat while no engine is up: a 503 the SDK may retry, not a hung request.
    with pytest.raises(openai.InternalServerError) as refused:
        client.chat.completions.create(model="default", messages=[{"role": "user", "content": "Hi"}],
                                       max_tokens=4)
    assert refused.value.status_code == 503
    deadline = time.monotonic() + 60
    while client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id).status == "in_progress" \
            and rows(front.data_dir, "SELECT attempts FROM runs WHERE id = ?", run.id)[0][0] < 2:
        assert time.monotonic() < deadline, "the run was not re-queued"
        time.sleep(0.2)
    assert client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id).status in {"queued",
                                                                                         "in_progress"}
    engine.start(timeout=300)  # the same port: the router's probe finds it back
    (done,) = wait_terminal(client, [run])
    assert done.status in {"completed", "incomplete"}, done.last_error
    answers = [m for m in client.beta.threads.messages.list(thread_id=run.thread_id).data
               if m.role == "assistant"]
    assert len(answers) == 1 and answers[0].status in {"completed", "incomplete"}
    assert rows(front.data_dir, "SELECT attempts FROM runs WHERE id = ?", run.id)[0][0] >= 2
    deadline = time.monotonic() + 300
    while (response := client.responses.retrieve(background.id)).status in {"queued", "in_progress"}:
        assert time.monotonic() < deadline, "the background response never finished"
        time.sleep(0.2)
    assert response.status in {"completed", "incomplete"}, response.error
