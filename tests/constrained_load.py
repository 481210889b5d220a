"""A constrained-decoding load: many JSON-schema and forced-tool-call generations decoding together
through the real engine and batcher, beside unconstrained ones, every finished output validated.

Shared by tests/integration/test_constrained_stress.py (small) and `benchmarks/constrained.py
--stress N` (long). The schemas are the shapes that broke "valid by construction" before the grammar
fixes in `assistants.protocol.jsonschema` and `assistants.inference.gbnf` (strings that could hold a
raw newline, a `pattern` behind a `$ref` or a `type` list, a negated class, `\\d`, literals with
backslashes and quotes) plus plain nested objects, arrays with `maxItems` and enums. Every fourth
round of the cases is greedy, the others seeded at temperature 1; some are cancelled after their
first piece, so sequence slots are reused by new grammars mid-load; unconstrained generations share
every batch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from assistants.inference.batcher import Batcher
from assistants.inference.engine import Engine, SamplingParams
from assistants.inference.gbnf import grammar_for_schema
from assistants.tools.plan import tool_calls_schema

CODE = {"type": "string", "pattern": "^[a-z]{2}-[a-z]{2}$"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "locales": {"$defs": {"code": CODE}, "type": "object", "properties": {
        "code": {"type": "string", "maxLength": 8},  # named like the definition the array refers to
        "alternates": {"type": "array", "items": {"$ref": "#/$defs/code"}, "maxItems": 3}},
        "required": ["code", "alternates"]},
    "nullable": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 20},
        "lang": {"type": ["string", "null"], "pattern": "^[a-z]{2}-[a-z]{2}$"},
        "size": {"enum": ["S", "M", "L"]}},
        "required": ["name", "lang", "size"]},
    "poem": {"type": "object", "properties": {
        "title": {"type": "string", "maxLength": 24},
        "lines": {"type": "array", "items": {"type": "string", "maxLength": 40},
                  "minItems": 1, "maxItems": 3}},
        "required": ["title", "lines"]},
    "address": {"type": "object", "properties": {
        "street": {"type": "string", "pattern": "^[^,]{1,24}$"},
        "zip": {"type": "string", "pattern": "^\\d{5}$"},
        "country": {"enum": ["US", "FR", "CN"]}},
        "required": ["street", "zip", "country"]},
    "nested": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 16},
        "owner": {"type": "object", "properties": {"age": {"type": "integer"}, "vip": {"type": "boolean"}},
                  "required": ["age", "vip"]},
        "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2},
                 "maxItems": 2}},
        "required": ["name", "owner", "grid"]},
    "escapes": {"type": "object", "properties": {
        "path": {"enum": ["C:\\temp", "D:\\data\\new"]},
        "quote": {"const": "say \"hi\""},
        "note": {"type": "string", "maxLength": 12}},
        "required": ["path", "quote", "note"]},
}
PROMPTS = {
    "locales": "Which languages are spoken in China? Answer as JSON.",
    "nullable": "Describe a T-shirt as JSON.",
    "poem": "Write a short poem about the sea, as JSON.",
    "address": "Give me the address of a bakery, as JSON.",
    "nested": "Describe a small red car and its owner as JSON.",
    "escapes": "Where are the files kept? Answer as JSON.",
}
FUNCTIONS: list[dict[str, Any]] = [
    {"name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 20},
        "unit": {"enum": ["c", "f"]},
        "days": {"type": "integer"}}, "required": ["city", "unit"]}},
    {"name": "set_locale", "parameters": {"$defs": {"code": CODE}, "type": "object", "properties": {
        "code": {"$ref": "#/$defs/code"},
        "fallbacks": {"type": "array", "items": {"$ref": "#/$defs/code"}, "maxItems": 2}},
        "required": ["code"]}},
]
TOOL_PROMPT = "What is the weather in Paris, and switch my phone to French?"


def chat_prompt(text: str) -> str:
    """The bundled Gemma's turn format (it has no chat template of its own)."""
    return f"<start_of_turn>user\n{text}<end_of_turn>\n<start_of_turn>model\n"


@dataclass(frozen=True)
class Case:
    name: str
    prompt: str
    grammar: str | None
    validate: Callable[[Any], None]
    """Raises on an output that does not validate (given the parsed JSON)."""


def _schema_case(name: str) -> Case:
    schema = SCHEMAS[name]
    return Case(name, PROMPTS[name], grammar_for_schema(schema),
                lambda value: jsonschema.validate(value, schema))


def _validate_calls(functions: list[dict[str, Any]], *, parallel: bool) -> Callable[[Any], None]:
    """The turn's calls object validates, and so do each call's arguments against its function's own
    `parameters` (with their `$defs`)."""
    whole = tool_calls_schema(functions, parallel=parallel)
    by_name = {function["name"]: function["parameters"] for function in functions}

    def validate(value: Any) -> None:
        jsonschema.validate(value, whole)
        for call in value["tool_calls"]:
            jsonschema.validate(call["arguments"], by_name[call["name"]])

    return validate


def cases() -> list[Case]:
    """Every schema, then tool_choice `required` (any function, parallel) and a named function."""
    found = [_schema_case(name) for name in SCHEMAS]
    found.append(Case("tools:required", TOOL_PROMPT,
                      grammar_for_schema(tool_calls_schema(FUNCTIONS, parallel=True)),
                      _validate_calls(FUNCTIONS, parallel=True)))
    named = [FUNCTIONS[1]]
    found.append(Case("tools:set_locale", TOOL_PROMPT,
                      grammar_for_schema(tool_calls_schema(named, parallel=False)),
                      _validate_calls(named, parallel=False)))
    return found


@dataclass
class Report:
    constrained: int = 0
    finished: int = 0
    """Constrained generations that ended on their own (`stop`), each validated."""
    cut: int = 0
    """Ended by max_tokens: their output is a prefix, not a value, so not validated."""
    cancelled: int = 0
    failed: int = 0
    """Ended with an error (a grammar the engine could not use): each counts as invalid."""
    plain: int = 0
    invalid: list[tuple[str, str, str]] = field(default_factory=list)
    """(case, output, what is wrong)."""

    def summary(self) -> str:
        return (f"{len(self.invalid)} invalid of {self.finished + self.failed} checked constrained outputs "
                f"({self.finished} finished, {self.failed} failed with an error; of {self.constrained} "
                f"constrained, {self.cut} cut by max_tokens, {self.cancelled} cancelled; "
                f"{self.plain} unconstrained beside them)")


async def run_load(engine: Engine, constrained: int, *, max_tokens: int = 56, plain_every: int = 4,
                   cancel_every: int = 9, seed: int = 0) -> Report:
    """Submit `constrained` generations (rounds of `cases()`: greedy, then three seeded at temperature
    1) all at once, one unconstrained generation per `plain_every` of them, and cancel
    every `cancel_every`-th constrained one after its first piece; then validate what finished."""
    all_cases = cases()
    report = Report()
    batcher = Batcher(engine)
    prompts = {case.prompt: engine.tokenize(chat_prompt(case.prompt), add_special=True) for case in all_cases}

    async def constrained_one(index: int) -> None:
        case = all_cases[index % len(all_cases)]
        greedy = (index // len(all_cases)) % 4 == 0  # a repeated greedy round differs only by its neighbours
        params = SamplingParams(temperature=0.0 if greedy else 1.0, seed=seed + index, grammar=case.grammar)
        generation = batcher.submit(prompts[case.prompt], params, max_tokens)
        pieces: list[str] = []
        try:
            async for piece in generation:
                pieces.append(piece)
                if index % cancel_every == cancel_every - 1:
                    generation.cancel()
        except Exception as exc:  # a grammar the engine could not use is a failure too
            report.failed += 1
            report.invalid.append((case.name, "".join(pieces), f"{type(exc).__name__}: {exc}"))
            return
        assert generation.result is not None
        text = "".join(pieces)
        reason = generation.result.finish_reason
        if reason == "cancelled":
            report.cancelled += 1
        elif reason == "length":
            report.cut += 1
        else:
            report.finished += 1
            try:
                case.validate(json.loads(text))
            except Exception as exc:
                report.invalid.append((case.name, text, f"{type(exc).__name__}: {str(exc)[:160]}"))

    async def plain_one(index: int) -> None:
        params = SamplingParams(temperature=1.0, seed=seed + 10_000 + index)
        text = await batcher.submit(prompts[all_cases[index % len(all_cases)].prompt], params, 24).text()
        assert text is not None
        report.plain += 1

    report.constrained = constrained
    jobs = [constrained_one(i) for i in range(constrained)]
    jobs += [plain_one(i) for i in range(constrained // plain_every)]
    try:
        await asyncio.gather(*jobs)
    finally:
        batcher.close()
    return report
