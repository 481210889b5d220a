"""Bad chat/completions input: a 400 in the OpenAI envelope naming the field, never a 500 or an ignore."""

from __future__ import annotations

from typing import Any

import openai
import pytest

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"n": 2}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}
                ]
            },
            "messages[0].content[0]",
        ),
        ({"tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "integer",
                                                                                     "minimum": 1}}}]},
            "tools[0].function",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        (
            {"tools": [{"type": "function", "function": {"name": "f"}}],
             "tool_choice": {"type": "function", "function": {"name": "g"}}},
            "tool_choice",
        ),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
                "type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}}}},
            "response_format.json_schema",
        ),
        ({"messages": [{"role": "tool", "content": "22C"}]}, "messages[0].tool_call_id"),
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"abc": 5}}, "logit_bias"),
        ({"logit_bias": {"-1": 5}}, "logit_bias"),
        ({"logit_bias": {"1.5": 5}}, "logit_bias"),
        ({"logit_bias": {"1": 100.5}}, "logit_bias"),
        ({"logit_bias": {"1": -101}}, "logit_bias"),
        ({"logit_bias": {"1": "x"}}, "logit_bias"),  # a mapping value: the field, as every route names it
        ({"logit_bias": {"262144": 1}}, "logit_bias"),  # one past the bundled model's vocabulary
        ({"logit_bias": {str(token): 1 for token in range(301)}}, "logit_bias"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"presence_penalty": -1}, "presence_penalty"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
    ],
)
def test_rejected_with_400_naming_the_field(
    model_client: openai.OpenAI, kwargs: dict[str, Any], param: str
) -> None:
    arguments: dict[str, Any] = {"model": "default", "messages": USER, **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        model_client.chat.completions.create(**arguments)
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"


def test_informational_fields_are_accepted(model_client: openai.OpenAI) -> None:
    response = model_client.chat.completions.create(
        model="default",
        messages=USER,
        max_tokens=1,
        user="u1",
        metadata={"k": "v"},
        store=False,
        service_tier="auto",
        tool_choice="none",
        response_format={"type": "text"},
        frequency_penalty=0,
        extra_body={"web_search_options": None},
    )
    assert response.usage is not None and response.usage.completion_tokens == 1


def test_unknown_model_is_404(model_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        model_client.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.code == "model_not_found"


def test_context_length_exceeded(model_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        model_client.chat.completions.create(model="default", messages=USER, max_tokens=5000)
    assert caught.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as caught:
        model_client.completions.create(model="default", prompt="word " * 1500)
    assert caught.value.code == "context_length_exceeded"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"prompt": [[1, 2], [3]]}, "prompt"),  # one prompt of token ids is fine, several are not
        ({"prompt": [10**9]}, "prompt"),  # a token id outside the vocabulary
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"echo": True}, "echo"),
        ({"suffix": "x"}, "suffix"),
        ({"logprobs": 2}, "logprobs"),
        ({"n": 3}, "n"),
        ({"best_of": 2}, "best_of"),
    ],
)
def test_completions_rejections(model_client: openai.OpenAI, kwargs: dict[str, Any], param: str) -> None:
    arguments: dict[str, Any] = {"model": "default", "prompt": "hi", **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        model_client.completions.create(**arguments)
    assert caught.value.param == param


def test_without_a_model_chat_answers_503(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="default", messages=USER)
    assert caught.value.status_code == 503
    with pytest.raises(openai.InternalServerError):
        client.models.list()
