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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assistants.tools import schema

CallMode = Literal["never", "maybe", "forced"]


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
    functions = [tool["function"] for tool in tools or () if tool.get("type", "function") == "function"]
    json_output, shape = response_schema(response_format)
    text_schema = (shape or {"type": "object"}) if json_output else None
    choice = tool_choice if tool_choice is not None else "auto"
    if not functions or choice == "none":
        grammar = schema.grammar_for_schema(shape) if json_output else None
        return TurnPlan(None, "never", frozenset(), grammar, json_output)
    tool_list = [{"type": "function", "function": dict(f)} for f in functions]
    if isinstance(choice, Mapping):
        wanted = choice.get("function", {}).get("name")
        callable_ = [f for f in functions if f["name"] == wanted]
        if not callable_:
            raise ValueError(f"tool_choice names function '{wanted}', which is not among the tools")
    else:
        callable_ = functions
    names = frozenset(f["name"] for f in callable_)
    calls_schema = schema.tool_calls_schema(callable_, parallel=parallel)
    if choice == "auto":
        grammar = schema.alternatives_grammar([calls_schema, text_schema]) if text_schema else None
        return TurnPlan(tool_list, "maybe", names, grammar, json_output)
    return TurnPlan(tool_list, "forced", names, schema.grammar_for_schema(calls_schema), json_output)
