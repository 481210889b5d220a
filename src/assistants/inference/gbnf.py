"""GBNF grammars for JSON values that follow a (checked) JSON schema, for the GGUF engine's sampler.

The conversion is llama-cpp-python's (`llama_cpp.llama_grammar.SchemaConverter`), run on the schema
as `protocol.jsonschema.prepared` corrects it, with JSON-safe string rules: the converter's string
character lets raw control characters through (JSON needs `\\n`, not a newline), its `.` a raw quote or
backslash, and its literals (enum, const, property names) do not escape a backslash.
`llama_cpp` is imported on the first grammar built, not with this module: importing the package loads
llama.cpp's shared library, which `migrate` and `--no-model` never need.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from assistants.protocol.jsonschema import SchemaError, inline_refs, prepared

_JSON_SAFE_RULES = {
    "char": r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])',
    "dot": r'[^"\\\x7F\x00-\x1F]',
}
"""What JSON allows unescaped in a string (llama.cpp's own converter writes the same `char`)."""


@functools.cache
def _converter_class() -> type[Any]:
    from llama_cpp.llama_grammar import SchemaConverter

    class JsonSafeConverter(SchemaConverter):
        def _add_rule(self, name: str, rule: str) -> str:
            # `char` and `dot` are reserved: a schema's own rules never get these names.
            return str(super()._add_rule(name, _JSON_SAFE_RULES.get(name, rule)))

        def _format_literal(self, literal: str) -> str:
            # A JSON literal's own escapes (`\\`, `\n`, `\"`) must reach the output as written.
            return str(super()._format_literal(literal.replace("\\", "\\\\")))

    return JsonSafeConverter


def grammar_for_schema(schema: Mapping[str, Any] | None) -> str:
    """GBNF for one JSON value conforming to `schema` (None: any JSON object)."""
    target = prepared(schema) if schema else {"type": "object"}
    try:
        converter = _converter_class()(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        converter.visit(converter.resolve_refs(json.loads(json.dumps(target)), "stdin"), "")
        return str(converter.format_grammar())
    except Exception as exc:  # the converter asserts on shapes the subset check let through
        raise SchemaError(f"the schema cannot be turned into a grammar: {exc}", "") from exc


def alternatives_grammar(schemas: Sequence[Mapping[str, Any]]) -> str:
    """GBNF for a value matching any of `schemas` (e.g. a tool call OR the response format)."""
    if len(schemas) == 1:
        return grammar_for_schema(schemas[0])
    return grammar_for_schema({"anyOf": [inline_refs(schema) for schema in schemas]})
