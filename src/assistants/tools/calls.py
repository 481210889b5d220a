"""Tool calls: parsing them out of a model's output, writing them back as text, and their wire deltas.

The model writes calls in one of two shapes:
* the generic one the grammar produces and the fallback prompt asks for:
  `{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}`
* Hermes-style blocks, which chat templates with tool support (Qwen, Hermes, ...) ask for:
  `<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>` (one per call).
An output is a call only if ALL of it is calls (surrounding whitespace aside) naming known functions
with object arguments; anything else is text. `arguments` leave here as a JSON string, never an object.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from assistants.protocol.codec import encoder

_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """The arguments object as a JSON string (what the wire carries)."""

    def wire(self) -> dict[str, Any]:
        """`{id, type, function: {name, arguments}}`: chat `tool_calls` and `required_action` entries."""
        function = {"name": self.name, "arguments": self.arguments}
        return {"id": self.id, "type": "function", "function": function}


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def parse_tool_calls(text: str, names: Collection[str]) -> list[ToolCall] | None:
    """The calls `text` consists of, with fresh ids; None if it is not made of calls only."""
    stripped = text.strip()
    if not stripped:
        return None
    if stripped.startswith("<tool_call>"):
        blocks = _HERMES.findall(stripped)
        if not blocks or _HERMES.sub("", stripped).strip():
            return None
        objects = [_json(block) for block in blocks]
    else:
        value = _json(stripped)
        if isinstance(value, Mapping) and "tool_calls" in value and len(value) == 1:
            objects = value["tool_calls"] if isinstance(value["tool_calls"], list) else [None]
        else:
            objects = [value]
    calls = [_call(item, names) for item in objects]
    if not calls or any(call is None for call in calls):
        return None
    return calls  # type: ignore[return-value]


def _json(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None


def _call(item: Any, names: Collection[str]) -> ToolCall | None:
    if not isinstance(item, Mapping) or set(item) != {"name", "arguments"}:
        return None
    name, arguments = item["name"], item["arguments"]
    if isinstance(arguments, str):  # some templates' models write the string form
        arguments = _json(arguments)
    if name not in names or not isinstance(arguments, Mapping):
        return None
    # `{"k": v}` with spaces, as the wire has always carried them (clients and tests see these bytes).
    return ToolCall(new_call_id(), name, _spaced_json(arguments))


def _spaced_json(value: Any) -> str:
    """JSON with `json.dumps`' separators (`", "`, `": "`), non-ASCII kept as is: msgspec has only the
    compact form, and these are bytes on the wire."""
    return json.dumps(value, ensure_ascii=False)


def may_become_call(prefix: str) -> bool:
    """Could an output starting with `prefix` be calls? Decided at the first visible character:
    `auto` output starting with `{` or `<` is held back until it ends (then parsed), anything else is
    streamed as text at once. Held-back output that is not calls after all is sent as text."""
    return prefix.lstrip()[:1] in ("{", "<")


def calls_text(calls: Iterable[Mapping[str, Any]]) -> str:
    """Wire calls (`{function: {name, arguments}}`) back into the generic text form, for prompts."""
    items = []
    for call in calls:
        function = call.get("function", call)
        arguments = function.get("arguments") or "{}"
        parsed = _json(arguments) if isinstance(arguments, str) else arguments
        items.append({"name": function.get("name"), "arguments": parsed if parsed is not None else {}})
    # Compact: exactly the form the prompt asks for and the grammar produces (render.CALL_FORMAT), so
    # the history reads as the model wrote it.
    return encoder.encode({"tool_calls": items}).decode()


# -- deltas (reference §4.5 / §7.3: id and name only in the first delta of each index) ------------


def chat_call_deltas(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """`delta.tool_calls` entries for a chat stream: per call, the opening delta then its arguments."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        deltas.append({"index": index, "id": call.id, "type": "function",
                       "function": {"name": call.name, "arguments": ""}})
        deltas.append({"index": index, "function": {"arguments": call.arguments}})
    return deltas


def step_call_deltas(step_id: str, calls: list[ToolCall]) -> list[dict[str, Any]]:
    """`thread.run.step.delta` payloads for a tool_calls step, in the same two-per-call rhythm."""
    payloads = []
    for index, call in enumerate(calls):
        opening = {"index": index, "id": call.id, "type": "function",
                   "function": {"name": call.name, "arguments": "", "output": None}}
        rest = {"index": index, "type": "function", "function": {"arguments": call.arguments}}
        for entry in (opening, rest):
            payloads.append({"id": step_id, "object": "thread.run.step.delta",
                             "delta": {"step_details": {"type": "tool_calls", "tool_calls": [entry]}}})
    return payloads
