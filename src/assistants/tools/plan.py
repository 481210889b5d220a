"""One turn's decoding plan: which tools the prompt shows, whether the output may or must be calls,
and the grammar that enforces it. Runs and chat completions both ask `plan_turn`.

tool_choice:
* `none` (or no tools): no tools in the prompt, output never parsed as calls.
* `required` / `{"type":"function","function":{"name":...}}`: the grammar makes the output a call
  object (of any tool / of that one function) whose arguments follow the function's parameters.
* `auto`: decoded WITHOUT a grammar, then parsed: output that is nothing but a call object naming a
  known function is a call, anything else is text (see `calls.may_become_call` for streaming). This
  keeps plain answers free of grammar cost; a malformed call attempt simply ends up as text. With a
  JSON response_format as well, the grammar allows either a call object or the response object.
response_format `json_object` / `json_schema` (strict or not: the grammar enforces the schema either
way) constrains any text answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from assistants.errors import InvalidRequest
from assistants.inference.gbnf import alternatives_grammar, grammar_for_schema
from assistants.protocol.jsonschema import SchemaError, inline_refs

CallMode = Literal["never", "maybe", "forced"]

T = TypeVar("T")

MAX_PARALLEL_CALLS = 4
"""Calls one turn may make when parallel tool calls are allowed (the grammar bounds the list)."""


@dataclass(frozen=True)
class TurnPlan:
    tools: list[dict[str, Any]] | None
    """Tool definitions (wire form) the prompt shows, or None."""
    calls: CallMode
    names: frozenset[str]
    """Functions a call may name."""
    grammar: str | None
    json_output: bool
    """The text answer is constrained JSON (response_format)."""


def response_schema(response_format: Any) -> tuple[bool, dict[str, Any] | None]:
    """(is JSON constrained, schema or None for any object) for a response_format value."""
    if not isinstance(response_format, Mapping):
        return False, None  # "auto", None
    kind = response_format.get("type")
    if kind == "json_object":
        return True, None
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        return True, spec.get("schema") or None
    return False, None


def plan_turn(tools: Sequence[Mapping[str, Any]] | None, tool_choice: Any, parallel: bool,
              response_format: Any) -> TurnPlan:
    """Raises InvalidRequest naming `tool_choice`, `tools` or `response_format` when the turn cannot be
    decoded as asked (a forced function that is not there, a schema the grammar cannot express)."""
    functions = [tool["function"] for tool in tools or () if tool.get("type", "function") == "function"]
    json_output, shape = response_schema(response_format)
    text_schema = (shape or {"type": "object"}) if json_output else None
    choice = tool_choice if tool_choice is not None else "auto"
    if not functions or choice == "none":
        grammar = _grammar(grammar_for_schema, shape, "response_format") if json_output else None
        return TurnPlan(None, "never", frozenset(), grammar, json_output)
    tool_list = [{"type": "function", "function": dict(f)} for f in functions]
    if isinstance(choice, Mapping):
        wanted = choice.get("function", {}).get("name")
        callable_ = [f for f in functions if f["name"] == wanted]
        if not callable_:
            raise InvalidRequest(f"tool_choice names function '{wanted}', which is not among the tools.",
                                 param="tool_choice")
    else:
        callable_ = functions
    names = frozenset(f["name"] for f in callable_)
    calls_schema = _grammar(tool_calls_schema, callable_, "tools", parallel=parallel)
    if choice == "auto":
        grammar = (_grammar(alternatives_grammar, [calls_schema, text_schema], "tools")
                   if text_schema else None)
        return TurnPlan(tool_list, "maybe", names, grammar, json_output)
    return TurnPlan(tool_list, "forced", names, _grammar(grammar_for_schema, calls_schema, "tools"),
                    json_output)


def _grammar(build: Callable[..., T], schema: Any, param: str, **options: Any) -> T:
    try:
        return build(schema, **options)
    except SchemaError as exc:
        raise InvalidRequest(f"{exc}.", param=param) from None


# -- the tool-call object ------------------------------------------------------------------------


def function_parameters(function: Mapping[str, Any]) -> dict[str, Any]:
    """A function's parameters schema; a function without parameters takes the empty object."""
    parameters = function.get("parameters")
    return inline_refs(parameters) if parameters else {"type": "object", "properties": {}}


def tool_calls_schema(functions: Sequence[Mapping[str, Any]], *, parallel: bool) -> dict[str, Any]:
    """The JSON schema of one turn's calls: `{"tool_calls":[{"name":...,"arguments":{...}}, ...]}`.

    `functions` are the callable ones (all of them, or the one named by tool_choice); each call's
    `name` is a const, so its `arguments` follow exactly that function's parameters.
    """
    options = [{"type": "object",
                "properties": {"name": {"const": function["name"]},
                               "arguments": function_parameters(function)},
                "required": ["name", "arguments"], "additionalProperties": False}
               for function in functions]
    item = options[0] if len(options) == 1 else {"anyOf": options}
    calls = {"type": "array", "items": item, "minItems": 1,
             "maxItems": MAX_PARALLEL_CALLS if parallel else 1}
    return {"type": "object", "properties": {"tool_calls": calls}, "required": ["tool_calls"],
            "additionalProperties": False}
