"""Tool definitions, past calls and tool results, rendered into the prompt.

Templates that reference `tools` (most published tool-calling templates) get what they expect: the
tool list in `tools`, assistant turns with `tool_calls` (arguments as objects, as HF templates read
them) and `role: tool` results. Templates without tool support (the built-in Gemma and ChatML ones,
which the bundled model uses) get the documented generic fallback instead:

* the function list and the call format go into the system prompt as one block (`tools_block`);
* an assistant turn that made calls reads `{"tool_calls":[{"name":...,"arguments":{...}}]}`, the same
  form the model is asked (or, when forced, made by the grammar) to write;
* each tool result becomes a user turn `Result of <name> (<call id>):` + the output, because those
  templates have no tool role.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from jinja2 import meta

from assistants.protocol.messages import content_text
from assistants.tools.calls import calls_text

CALL_FORMAT = '{"tool_calls":[{"name":"<function name>","arguments":{<arguments as JSON>}}]}'


def template_supports_tools(source: str) -> bool:
    """Does the Jinja template read a `tools` variable? (Parsed, not grepped: a comment does not count.)"""
    try:
        return "tools" in meta.find_undeclared_variables(jinja2.Environment().parse(source))
    except jinja2.TemplateSyntaxError:
        return False


def has_tool_content(messages: Sequence[Mapping[str, Any]]) -> bool:
    return any(m.get("role") == "tool" or m.get("tool_calls") for m in messages)


def tools_block(tools: Sequence[Mapping[str, Any]]) -> str:
    """The system-prompt block listing the functions and how to call them (fallback templates)."""
    lines = ["You can call these functions:"]
    for tool in tools:
        function = tool.get("function", tool)
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        description = f": {function['description']}" if function.get("description") else ""
        lines.append(f"- {function['name']}{description}")
        lines.append(f"  parameters (JSON Schema): {json.dumps(parameters, ensure_ascii=False)}")
    lines.append("To call functions, answer with only this JSON and nothing else:")
    lines.append(CALL_FORMAT)
    return "\n".join(lines)


def fallback_messages(messages: Sequence[Mapping[str, Any]],
                      tools: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Messages for a template without tool support (module docstring)."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            calls = message["tool_calls"]
            for call in calls:
                names[call.get("id", "")] = call.get("function", {}).get("name", "")
            text = content_text(message.get("content"))
            out.append({"role": "assistant", "content": (text + "\n" if text else "") + calls_text(calls)})
        elif role == "tool":
            call_id = message.get("tool_call_id") or ""
            name = message.get("name") or names.get(call_id) or "the function"
            result = content_text(message.get("content"))
            out.append({"role": "user", "content": f"Result of {name} ({call_id}):\n{result}"})
        else:
            out.append({k: v for k, v in message.items() if k not in ("tool_calls", "tool_call_id")})
    if tools:
        block = tools_block(tools)
        if out and out[0].get("role") in ("system", "developer"):
            first = content_text(out[0].get("content"))
            out[0] = {**out[0], "content": f"{first}\n\n{block}" if first else block}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def template_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a template with tool support: call arguments as objects, as such templates expect."""
    out = []
    for message in messages:
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = dict(call.get("function", {}))
                if isinstance(function.get("arguments"), str):
                    try:
                        function["arguments"] = json.loads(function["arguments"])
                    except ValueError:
                        pass
                calls.append({**call, "function": function})
            message = {**message, "tool_calls": calls}
        out.append(dict(message))
    return out
