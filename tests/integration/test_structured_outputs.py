"""Structured outputs (response_format json_object / json_schema) with the real bundled model.

Every generation either parses and validates, or was cut by max_tokens (finish_reason `length`):
that is the only exception. Many seeds run at once, so every sequence of the batch decodes under its
own grammar while unconstrained requests share the batch.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import jsonschema
import openai
import pydantic
import pytest

from tests import constrained_load as load

SCHEMAS: dict[str, dict[str, Any]] = {
    "nested": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 20},
        "owner": {"type": "object", "properties": {"age": {"type": "integer"}, "vip": {"type": "boolean"}},
                  "required": ["age", "vip"]}},
        "required": ["name", "owner"]},
    "array_enum": {"type": "object", "properties": {
        "colors": {"type": "array", "items": {"type": "string", "enum": ["red", "green", "blue"]},
                   "minItems": 1, "maxItems": 3},
        "size": {"enum": ["S", "M", "L"]}},
        "required": ["colors", "size"], "additionalProperties": False},
    "optional_and_null": {"type": "object", "properties": {
        "title": {"type": "string", "maxLength": 16},
        "score": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 2}},
        "required": ["title", "score"]},
}
PROMPT = [{"role": "user", "content": "Describe a small red car as JSON."}]


def generate(client: openai.OpenAI, response_format: dict[str, Any], seed: int) -> tuple[str, str | None]:
    response = client.chat.completions.create(model="default", messages=PROMPT,
                                              response_format=response_format,  # type: ignore[arg-type]
                                              max_tokens=72, temperature=1.0, seed=seed)
    choice = response.choices[0]
    return choice.finish_reason, choice.message.content


@pytest.mark.parametrize("strict", [True, False])
def test_json_schema_outputs_validate_across_seeds(model_client: openai.OpenAI, strict: bool) -> None:
    jobs = [(name, seed) for name in SCHEMAS for seed in range(2)]

    def one(job: tuple[str, int]) -> tuple[str, str, str | None]:
        name, seed = job
        spec = {"name": name, "schema": SCHEMAS[name], "strict": strict}
        fmt = {"type": "json_schema", "json_schema": spec}
        return (name, *generate(model_client, fmt, seed + (100 if strict else 0)))

    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(one, jobs))
    finished = 0
    for name, finish, content in results:
        if finish == "length":
            continue
        assert finish == "stop", (name, finish, content)
        jsonschema.validate(json.loads(content or ""), SCHEMAS[name])
        finished += 1
    assert finished >= len(jobs) // 2, results


def test_schema_outputs_and_forced_tool_calls_validate_under_load(model_client: openai.OpenAI) -> None:
    """The engine-level load (tests/constrained_load.py) through HTTP and the SDK, smaller: every
    schema greedy and seeded, tool_choice required and named, plain requests in the same batches."""
    tools = [{"type": "function", "function": function} for function in load.FUNCTIONS]
    named = {"type": "function", "function": {"name": "set_locale"}}

    def one(job: tuple[str, Any, int]) -> tuple[str, str, Any]:
        kind, what, seed = job
        common: dict[str, Any] = {"model": "default", "max_tokens": 64, "temperature": float(seed % 2),
                                  "seed": seed}
        if kind == "plain":
            response = model_client.chat.completions.create(
                messages=[{"role": "user", "content": load.TOOL_PROMPT}], **{**common, "max_tokens": 16})
            return kind, response.choices[0].finish_reason, None
        if kind == "schema":
            fmt = {"type": "json_schema", "json_schema": {"name": what, "schema": load.SCHEMAS[what]}}
            response = model_client.chat.completions.create(
                messages=[{"role": "user", "content": load.PROMPTS[what]}], response_format=fmt,  # type: ignore[arg-type]
                **common)
            choice = response.choices[0]
            return f"{kind}:{what}", choice.finish_reason, choice.message.content
        response = model_client.chat.completions.create(
            messages=[{"role": "user", "content": load.TOOL_PROMPT}], tools=tools, tool_choice=what,  # type: ignore[arg-type]
            **common)
        choice = response.choices[0]
        return f"{kind}", choice.finish_reason, choice.message

    jobs: list[tuple[str, Any, int]] = [("schema", name, seed) for name in load.SCHEMAS for seed in (0, 1)]
    jobs += [("tools", choice, seed) for choice in ("required", named) for seed in (0, 1)]
    jobs += [("plain", None, seed) for seed in range(4)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(one, jobs))
    checked = 0
    for (kind, what, _), (label, finish, output) in zip(jobs, results, strict=True):
        if kind == "plain" or finish == "length":
            continue
        if kind == "schema":
            assert finish == "stop", (label, finish, output)
            jsonschema.validate(json.loads(output or ""), load.SCHEMAS[what])
        else:  # a forced call: always calls, each call's arguments valid for its function
            assert finish == "tool_calls" and output.tool_calls, (label, finish, output)
            allowed = {"set_locale"} if isinstance(what, dict) else {f["name"] for f in load.FUNCTIONS}
            for call in output.tool_calls:
                assert call.function.name in allowed, call
                parameters = next(f["parameters"] for f in load.FUNCTIONS if f["name"] == call.function.name)
                jsonschema.validate(json.loads(call.function.arguments), parameters)
        checked += 1
    assert checked >= len(jobs) // 3, results


def test_json_object_and_plain_requests_share_the_batch(model_client: openai.OpenAI) -> None:
    def constrained(seed: int) -> tuple[str, str | None]:
        return generate(model_client, {"type": "json_object"}, seed)

    def plain(seed: int) -> str | None:
        return model_client.chat.completions.create(model="default", messages=PROMPT, max_tokens=12,
                                                    seed=seed).choices[0].message.content

    with ThreadPoolExecutor(6) as pool:
        objects = [pool.submit(constrained, seed) for seed in range(3)]
        texts = [pool.submit(plain, seed) for seed in range(3)]
        for future in objects:
            finish, content = future.result()
            if finish != "length":
                assert isinstance(json.loads(content or ""), dict)
        for text in texts:
            assert text.result()


class Pet(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=20)
    kind: Literal["cat", "dog", "bird"]
    legs: int


def test_parse_with_a_pydantic_model(model_client: openai.OpenAI) -> None:
    completion = model_client.chat.completions.parse(
        model="default", messages=[{"role": "user", "content": "Describe a pet as JSON."}],
        response_format=Pet, max_tokens=64, temperature=0)
    pet = completion.choices[0].message.parsed
    assert isinstance(pet, Pet) and pet.kind in ("cat", "dog", "bird")
