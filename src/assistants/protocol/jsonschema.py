"""The JSON-schema subset constrained decoding enforces: the check requests pass, and pure rewrites.

A keyword the grammar cannot enforce would let the model write JSON that does not validate, so such
schemas are refused (400) rather than silently half-honoured. The grammar itself is built from the
checked schema by `assistants.inference.gbnf` (llama-cpp-python's converter, run with JSON-safe string
rules); this module stays pure, so that decoding a request never loads an engine. `prepared` corrects
what that converter gets wrong (issue 11: before the corrections the stress load of
`benchmarks/constrained.py --stress` had every checked output invalid, after them none, see
benchmarks/README.md): it drops every keyword beside a `type` list or beside `anyOf`/`oneOf`,
resolves a `$ref` by the last name in its path (a property of that name wins), ignores `items`, `minItems` and
`maxItems` beside `prefixItems`, and copies a `pattern`'s classes as they are (see `patterns.py`). So
references are inlined, `type` lists and `anyOf`/`oneOf` siblings are distributed over the
alternatives, and patterns are rewritten.

Supported keywords (everything the grammar enforces, plus annotations):
* types: `type` (string, number, integer, boolean, null, object, array, or a list of them)
* objects: `properties`, `required`, `additionalProperties` (false, true or a schema)
* arrays: `items` (one schema), `prefixItems`, `minItems`, `maxItems`
* strings: `minLength`, `maxLength`, `pattern` (anchored with ^...$; not beside a length or
  `format`: the grammar enforces only one of them; see `patterns.py` for the regex subset), `format`
  (date, time, date-time, uuid)
* `enum`, `const`, `anyOf`, `oneOf` (generated as anyOf: alternatives of a oneOf should not overlap)
* `$ref` to `#/$defs/...` or `#/definitions/...` (with those sections)
* annotations, ignored: `title`, `description`, `default`, `examples`, `$schema`, `$id`, `$comment`,
  `deprecated`, `readOnly`, `writeOnly`, `strict`
Everything else (`minimum`, `maximum`, `multipleOf`, `allOf`, `not`, `if`, `uniqueItems`,
`patternProperties`, remote `$ref`, ...) is refused.

One choice the grammar makes on its own: an object schema that lists `properties` but does not say
`additionalProperties` is generated as if it said `false`. The output still validates (extra
properties would have been allowed, never required), and a small model is not invited to wander off
into keys nobody asked for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from assistants.protocol.patterns import json_safe_pattern

ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$schema", "$id", "$comment",
                         "deprecated", "readOnly", "writeOnly", "strict"})
TYPES = frozenset({"string", "number", "integer", "boolean", "null", "object", "array"})
FORMATS = frozenset({"date", "time", "date-time", "uuid"})
_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items", "prefixItems",
                       "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "enum",
                       "const", "anyOf", "oneOf", "$ref", "$defs", "definitions"}) | ANNOTATIONS
_LOCAL_REF = re.compile(r"^#/(\$defs|definitions)/[^/]+$")


class SchemaError(ValueError):
    """A schema we cannot enforce. `path` is where in the schema (e.g. `properties.age.minimum`)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{message} (at '{path}')" if path else message)
        self.path = path


def check_schema(schema: Any, path: str = "") -> None:
    """Raise SchemaError if `schema` uses anything outside the supported subset (module docstring),
    or refers to a definition that is missing or recursive."""
    _check(schema, path)
    try:
        prepared(schema)
    except SchemaError as exc:
        raise SchemaError(str(exc).partition(" (at ")[0], _join(path, exc.path)) from None


def _check(schema: Any, path: str) -> None:
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise SchemaError("a schema must be a JSON object", path)
    for key in schema:
        if key not in _KEYWORDS:
            raise SchemaError(f"the JSON-schema keyword '{key}' is not supported for constrained output",
                              _join(path, key))
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for item in kinds:
        if item not in TYPES:
            raise SchemaError(f"unknown type {json.dumps(item)}", _join(path, "type"))
    if "format" in schema and schema["format"] not in FORMATS:
        raise SchemaError(f"the string format {json.dumps(schema['format'])} is not supported "
                          f"(supported: {', '.join(sorted(FORMATS))})", _join(path, "format"))
    pattern = schema.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise SchemaError("a pattern must be a string", _join(path, "pattern"))
        try:
            json_safe_pattern(pattern)
        except ValueError as exc:
            raise SchemaError(str(exc), _join(path, "pattern")) from None
        for other in ("minLength", "maxLength", "format"):
            if other in schema:
                raise SchemaError(f"'pattern' beside '{other}' is not supported (the grammar enforces one "
                                  "of them): put the length into the pattern, e.g. '{1,20}'",
                                  _join(path, other))
    _check_bounds(schema, path)
    ref = schema.get("$ref")
    if ref is not None and not (isinstance(ref, str) and _LOCAL_REF.match(ref)):
        raise SchemaError("only local references to '#/$defs/...' or '#/definitions/...' are supported",
                          _join(path, "$ref"))
    if "required" in schema and not (isinstance(schema["required"], list)
                                     and all(isinstance(name, str) for name in schema["required"])):
        raise SchemaError("'required' must be a list of property names", _join(path, "required"))
    if "enum" in schema and not (isinstance(schema["enum"], list) and schema["enum"]):
        raise SchemaError("'enum' must be a non-empty list", _join(path, "enum"))
    for section in ("properties", "$defs", "definitions"):
        children = schema.get(section)
        if children is None:
            continue
        if not isinstance(children, Mapping):
            raise SchemaError(f"'{section}' must be an object", _join(path, section))
        for name, child in children.items():
            _check(child, _join(path, f"{section}.{name}"))
    for single in ("additionalProperties", "items"):
        if single in schema:
            if single == "items" and isinstance(schema[single], list):
                raise SchemaError("'items' must be one schema (use 'prefixItems' for tuples)",
                                  _join(path, single))
            _check(schema[single], _join(path, single))
    for several in ("prefixItems", "anyOf", "oneOf"):
        if several in schema:
            options = schema[several]
            if not isinstance(options, list) or not options:
                raise SchemaError(f"'{several}' must be a non-empty list of schemas", _join(path, several))
            for index, option in enumerate(options):
                _check(option, f"{_join(path, several)}[{index}]")


def _check_bounds(schema: Mapping[str, Any], path: str) -> None:
    """Lengths and counts are non-negative integers, each minimum at most its maximum; `prefixItems`
    (generated as exactly that tuple) within `minItems`..`maxItems`."""
    for key in ("minLength", "maxLength", "minItems", "maxItems"):
        value = schema.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise SchemaError(f"'{key}' must be a non-negative integer", _join(path, key))
    for low, high in (("minLength", "maxLength"), ("minItems", "maxItems")):
        if low in schema and high in schema and schema[low] > schema[high]:
            raise SchemaError(f"'{low}' is greater than '{high}'", _join(path, low))
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list) and not (schema.get("minItems", 0) <= len(prefix)
                                         <= schema.get("maxItems", len(prefix))):
        raise SchemaError("'prefixItems' is generated as exactly that tuple: 'minItems' / 'maxItems' must "
                          "allow its length", _join(path, "prefixItems"))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def closed(schema: Any) -> Any:
    """A copy where objects with `properties` and no `additionalProperties` get `false` (see above)."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    copy = {key: closed(value) if key not in ("enum", "const", "default", "examples") else value
            for key, value in schema.items()}
    if "properties" in copy and "additionalProperties" not in copy:
        copy["additionalProperties"] = False
    return copy


def inline_refs(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """`schema` with its local `$ref`s replaced by what they point to, and `$defs` dropped.

    Schemas get embedded in bigger ones (a function's parameters inside the tool-call object), where
    `#/$defs/...` would no longer point into the right document. Recursive definitions are refused.
    """
    root = schema if root is None else root
    if depth > 32:
        raise SchemaError("recursive '$ref' definitions are not supported", "$ref")
    if isinstance(schema, list):
        return [inline_refs(item, root, depth) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        section, _, name = ref.removeprefix("#/").partition("/")
        target = root.get(section, {}).get(name) if isinstance(root, Mapping) else None
        if not isinstance(target, Mapping):
            raise SchemaError(f"'$ref' {json.dumps(ref)} points to no definition", "$ref")
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return inline_refs(merged, root, depth + 1)
    literal = ("enum", "const", "default", "examples")
    return {key: (value if key in literal else inline_refs(value, root, depth))
            for key, value in schema.items() if key not in ("$defs", "definitions")}


def prepared(schema: Any) -> Any:
    """`schema` as the converter needs it to generate exactly what validates (module docstring):
    references inlined, objects closed, `type` lists and union siblings distributed, patterns rewritten."""
    return _for_converter(closed(inline_refs(schema)))


_SUBSCHEMA = ("items", "additionalProperties")
_SUBSCHEMA_LISTS = ("prefixItems", "anyOf", "oneOf")


def _for_converter(schema: Any) -> Any:
    if not isinstance(schema, Mapping):
        return schema
    union = "anyOf" if "anyOf" in schema else "oneOf" if "oneOf" in schema else None
    siblings = {key: value for key, value in schema.items() if key != union and key not in ANNOTATIONS}
    if union and siblings:  # the converter keeps only the alternatives
        return _for_converter({union: [_merged(siblings, option) for option in schema[union]]})
    kinds = schema.get("type")
    if isinstance(kinds, list):  # the converter keeps only the bare types
        rest = {key: value for key, value in schema.items() if key != "type"}
        return _for_converter({"anyOf": [{**rest, "type": kind} for kind in kinds]})
    out = dict(schema)
    for key in _SUBSCHEMA:
        if key in out:
            out[key] = _for_converter(out[key])
    for key in _SUBSCHEMA_LISTS:
        if key in out:
            out[key] = [_for_converter(option) for option in out[key]]
    if "properties" in out:
        out["properties"] = {name: _for_converter(child) for name, child in out["properties"].items()}
    for name in out.get("required", ()):
        if name not in out.get("properties", {}):  # the grammar writes only the listed properties
            raise SchemaError(f"the required property '{name}' is not among 'properties'", "required")
    if "prefixItems" in out:  # generated as exactly the tuple, which `_check_bounds` found in range
        for key in ("items", "minItems", "maxItems"):
            out.pop(key, None)
    if "pattern" in out:
        try:
            out["pattern"] = json_safe_pattern(out["pattern"])
        except ValueError as exc:  # `check_schema` reports these with their path first
            raise SchemaError(str(exc), "pattern") from None
    return out


def _merged(siblings: Mapping[str, Any], option: Any) -> dict[str, Any]:
    if not isinstance(option, Mapping):
        raise SchemaError("an alternative must be a JSON object", "anyOf")
    clash = [key for key in siblings if key in option and option[key] != siblings[key]]
    if clash:
        raise SchemaError(f"'{clash[0]}' both beside and inside an alternative is not supported", clash[0])
    return {**siblings, **option}
