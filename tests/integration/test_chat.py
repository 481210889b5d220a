"""/v1/chat/completions and /v1/completions with the real bundled model, driven by the official SDK.

Every test runs once per engine (`engine_server` in conftest.py): gguf and mlx serve the same
model, so the same greedy text, token counts, stops and stream shapes are expected of both.
"""

from __future__ import annotations

import httpx
import openai

from tests.serverproc import EngineServer

MODEL = "default"
COUNTING = "1, 2, 3, 4, 5, 6, 7,"


def chat(client: openai.OpenAI, content: str, **kwargs: object) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], **kwargs
    )  # type: ignore[call-overload]


def test_greedy_chat_is_deterministic_and_well_formed(
    engine_client: openai.OpenAI, engine_server: EngineServer
) -> None:
    first = chat(engine_client, "Name three colors.", temperature=0, max_tokens=12)
    second = chat(engine_client, "Name three colors.", temperature=0, max_tokens=12)
    assert first.object == "chat.completion" and first.id.startswith("chatcmpl-")
    assert first.model == engine_server.model_id == engine_client.models.list().data[0].id
    choice = first.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.message.content == second.choices[0].message.content
    assert first.usage is not None and first.usage.prompt_tokens > 5
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


def test_fixed_seed_reproduces_a_sampled_output(engine_client: openai.OpenAI) -> None:
    outputs = {
        chat(engine_client, "Tell me a story.", temperature=1.0, top_p=0.95, seed=1234, max_tokens=16)
        .choices[0]
        .message.content
        for _ in range(2)
    }
    assert len(outputs) == 1
    completions = {
        engine_client.completions.create(
            model=MODEL, prompt="Once upon a time", temperature=0.9, seed=7, max_tokens=16
        )
        .choices[0]
        .text
        for _ in range(2)
    }
    assert len(completions) == 1


def test_max_tokens_ends_with_length_and_that_many_tokens(engine_client: openai.OpenAI) -> None:
    response = chat(engine_client, COUNTING, temperature=0, max_tokens=5)
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 5
    newer = chat(engine_client, COUNTING, temperature=0, max_completion_tokens=3)
    assert newer.usage is not None and newer.usage.completion_tokens == 3
    completion = engine_client.completions.create(model=MODEL, prompt=COUNTING, temperature=0, max_tokens=4)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 4


def test_stop_sequences_are_trimmed_even_across_tokens(engine_client: openai.OpenAI) -> None:
    full = engine_client.completions.create(model=MODEL, prompt=COUNTING, temperature=0, max_tokens=12)
    text = full.choices[0].text
    assert text.startswith(" 8, 9, 10")
    stopped = engine_client.completions.create(
        model=MODEL, prompt=COUNTING, temperature=0, max_tokens=12, stop=[", 1", "zzz"]
    )
    assert stopped.choices[0].text == " 8, 9"
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.usage is not None and 0 < stopped.usage.completion_tokens < 12
    # Streamed, the held-back text that turned out to start the stop string is never sent.
    chunks = list(
        engine_client.completions.create(
            model=MODEL, prompt=COUNTING, temperature=0, max_tokens=12, stop=[", 1", "zzz"], stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == " 8, 9"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == stopped.usage.completion_tokens
    chat_stopped = chat(engine_client, COUNTING, temperature=0, max_tokens=12, stop="4")
    assert chat_stopped.choices[0].message.content == "1, 2, 3, "
    assert chat_stopped.choices[0].finish_reason == "stop"


def test_stream_chunks_role_first_then_deltas_finish_and_usage_last(
    engine_client: openai.OpenAI, engine_server: EngineServer
) -> None:
    whole = chat(engine_client, COUNTING, temperature=0, max_tokens=8).choices[0].message.content
    chunks = list(
        chat(
            engine_client,
            COUNTING,
            temperature=0,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {(c.id, c.created, c.model, c.object) for c in chunks} == {
        (chunks[0].id, chunks[0].created, engine_server.model_id, "chat.completion.chunk")
    }
    body = chunks[1:-2]
    assert body and all(c.choices[0].finish_reason is None and c.usage is None for c in body)
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == whole
    finish = chunks[-2]
    assert finish.choices[0].finish_reason == "length" and not finish.choices[0].delta.content
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage is not None and usage.usage.completion_tokens == 8


def test_stream_without_usage_and_done_marker(engine_server: EngineServer) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": COUNTING}],
        "max_tokens": 3,
        "temperature": 0,
        "stream": True,
    }
    with httpx.stream(
        "POST", engine_server.server.base_url + "/v1/chat/completions", json=body, timeout=600
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert '"finish_reason":"length"' in lines[-2]
    assert '"usage":null' in lines[-2]


def test_completions_stream(engine_client: openai.OpenAI) -> None:
    whole = engine_client.completions.create(model=MODEL, prompt=COUNTING, temperature=0, max_tokens=6)
    assert whole.object == "text_completion"
    chunks = list(
        engine_client.completions.create(
            model=MODEL,
            prompt=COUNTING,
            temperature=0,
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6
