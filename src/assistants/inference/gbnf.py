"""GBNF grammars for JSON values that follow a (checked) JSON schema, for the GGUF engine's sampler.

The conversion is llama-cpp-python's (`llama_cpp.llama_grammar.json_schema_to_gbnf`); nothing here
converts schemas by hand. `llama_cpp` is imported on the first grammar built, not with this module:
importing the package loads llama.cpp's shared library, which `migrate` and `--no-model` never need.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from assistants.protocol.jsonschema import SchemaError, closed, inline_refs


def grammar_for_schema(schema: Mapping[str, Any] | None) -> str:
    """GBNF for one JSON value conforming to `schema` (None: any JSON object)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    target = closed(schema) if schema else {"type": "object"}
    try:
        return json_schema_to_gbnf(json.dumps(target))
    except Exception as exc:  # the converter asserts on shapes the subset check let through
        raise SchemaError(f"the schema cannot be turned into a grammar: {exc}", "") from exc


def alternatives_grammar(schemas: Sequence[Mapping[str, Any]]) -> str:
    """GBNF for a value matching any of `schemas` (e.g. a tool call OR the response format)."""
    if len(schemas) == 1:
        return grammar_for_schema(schemas[0])
    return grammar_for_schema({"anyOf": [inline_refs(schema) for schema in schemas]})
