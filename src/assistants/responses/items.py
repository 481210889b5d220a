"""Responses items <-> what the rest of the server speaks: chat-template messages and chat-shaped tools.

Input items are validated here (a 400 naming `input[i]...`) and normalized to the wire form
`input_items` lists: every item gets an id and a status. `prompt_messages` turns a history of items
into the messages the chat template renders (the same renderer runs and chat completions use):
* a message -> `{role, content}` with its text parts joined;
* consecutive `function_call` items -> one assistant message with `tool_calls`;
* `function_call_output` -> `{role: "tool", tool_call_id, name, content}`.
Tools, tool_choice and text.format are translated into their chat shapes and planned by
`tools.chat.check_tool_fields`, so a response decodes under the same grammars as a chat completion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from assistants.errors import InvalidRequest
from assistants.protocol.vector_stores import parse_filter
from assistants.store.ids import new_id
from assistants.tools.chat import check_tool_fields
from assistants.tools.plan import TurnPlan

Item = dict[str, Any]

MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
INPUT_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def _bad(param: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def new_item_id(kind: str) -> str:
    return new_id({"message": "msg_", "function_call": "fc_", "function_call_output": "fco_",
                   "file_search_call": "fs_"}[kind])


def normalize_input(value: str | list[dict[str, Any]] | None, param: str = "input") -> list[Item]:
    """The request's `input` as wire items (ids assigned). `item_reference`s stay for the caller to
    resolve (they need the store); everything else is checked here."""
    if value is None:
        return []
    if isinstance(value, str):
        return [_message("user", [{"type": "input_text", "text": value}])]
    return [normalize_item(item, f"{param}[{i}]") for i, item in enumerate(value)]


def normalize_item(item: Any, where: str) -> Item:
    if not isinstance(item, Mapping):
        raise _bad(where, f"{where} must be an object.")
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        return _normalize_message(item, where)
    if kind == "function_call":
        call_id, name, arguments = (item.get(k) for k in ("call_id", "name", "arguments"))
        for key, field in (("call_id", call_id), ("name", name), ("arguments", arguments)):
            if not isinstance(field, str) or (key != "arguments" and not field):
                raise _bad(f"{where}.{key}", f"{where} (function_call) needs a string '{key}'.")
        _json_object(str(arguments), f"{where}.arguments")
        return {"id": _given_id(item) or new_item_id("function_call"), "type": "function_call",
                "status": "completed", "call_id": call_id, "name": name, "arguments": arguments}
    if kind == "function_call_output":
        call_id, output = item.get("call_id"), item.get("output")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{where}.call_id", f"{where} (function_call_output) needs a 'call_id'.")
        if not isinstance(output, str):
            output = _parts_text(output, f"{where}.output") if isinstance(output, list) else None
            if output is None:
                raise _bad(f"{where}.output", f"{where} (function_call_output) needs an 'output' string.")
        return {"id": _given_id(item) or new_item_id("function_call_output"), "type": "function_call_output",
                "status": "completed", "call_id": call_id, "output": output}
    if kind == "file_search_call":
        # An earlier response's output passed back: kept in the history, not rendered into the prompt
        # (its excerpts belonged to that turn's prompt).
        queries = item.get("queries")
        if not isinstance(item.get("id"), str) or not isinstance(queries, list):
            raise _bad(where, f"{where} (file_search_call) needs its 'id' and 'queries'.")
        return {"id": item["id"], "type": "file_search_call", "status": item.get("status") or "completed",
                "queries": [str(query) for query in queries], "results": item.get("results")}
    if kind == "item_reference":
        if not isinstance(item.get("id"), str) or not item["id"]:
            raise _bad(f"{where}.id", f"{where} (item_reference) needs the 'id' of an item.")
        return {"type": "item_reference", "id": item["id"]}
    if kind is None:
        raise _bad(f"{where}.type", f"{where} needs a 'type' (or a 'role' for a message).")
    raise _bad(f"{where}.type", f"Input items of type '{kind}' are not supported by this server.",
               "unsupported_parameter")


def _given_id(item: Mapping[str, Any]) -> str | None:
    value = item.get("id")
    return value if isinstance(value, str) and value else None


def _normalize_message(item: Mapping[str, Any], where: str) -> Item:
    role = item.get("role")
    if role not in MESSAGE_ROLES:
        raise _bad(f"{where}.role", f"Invalid role '{role}' in {where}: expected one of user, assistant, "
                                    "system, developer.")
    content = item.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = _parts_text(content, f"{where}.content")
    else:
        raise _bad(f"{where}.content", f"{where} needs a 'content' string or a list of content parts.")
    part_type = "output_text" if role == "assistant" else "input_text"
    part: dict[str, Any] = {"type": part_type, "text": text}
    if role == "assistant":
        part["annotations"] = []
    return _message(role, [part], _given_id(item))


def _parts_text(parts: list[Any], where: str) -> str:
    texts = []
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
            continue
        if kind not in INPUT_TEXT_PARTS:
            raise _bad(f"{where}[{j}].type", f"Content parts of type '{kind}' are not supported by this "
                                             "server (text only).", "unsupported_parameter")
        if not isinstance(part.get("text"), str):
            raise _bad(f"{where}[{j}].text", f"{where}[{j}] needs a string 'text'.")
        texts.append(part["text"])
    return "\n".join(texts)


def _message(role: str, content: list[dict[str, Any]], item_id: str | None = None) -> Item:
    return {"id": item_id or new_item_id("message"), "type": "message", "role": role,
            "status": "completed", "content": content}


def _json_object(text: str, param: str) -> None:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        raise _bad(param, f"'{param}' must be a JSON object encoded as a string.") from None
    if not isinstance(value, dict):
        raise _bad(param, f"'{param}' must be a JSON object encoded as a string.")


def check_call_outputs(history: Sequence[Item], new_items: Sequence[Item], param: str = "input") -> None:
    """Every `function_call_output` must answer a `function_call` made before it (in the history or
    earlier in this input): otherwise the model would read a result of a call it never made."""
    known = {item["call_id"] for item in history if item.get("type") == "function_call"}
    for i, item in enumerate(new_items):
        if item["type"] == "function_call":
            known.add(item["call_id"])
        elif item["type"] == "function_call_output" and item["call_id"] not in known:
            raise _bad(f"{param}[{i}].call_id", f"No tool call found for function call output with call_id "
                                                f"'{item['call_id']}'.")


def item_text(item: Mapping[str, Any]) -> str:
    return "\n".join(part.get("text") or part.get("refusal") or "" for part in item.get("content") or ()
                     if isinstance(part, Mapping))


def prompt_messages(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A history of items as chat-template messages (module docstring)."""
    messages: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for item in items:
        kind = item.get("type")
        if kind == "message":
            messages.append({"role": item["role"], "content": item_text(item)})
        elif kind == "function_call":
            names[item["call_id"]] = item["name"]
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"] or "{}"}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "name": names.get(item["call_id"], ""), "content": item["output"]})
    # The template skips nothing, so an empty user/assistant turn would still cost a turn marker.
    return [m for m in messages if m.get("content") or m.get("tool_calls") or m["role"] == "tool"]


# -- tools, tool_choice, text.format ------------------------------------------------------------------


FILE_SEARCH_KEYS = frozenset({"type", "vector_store_ids", "max_num_results", "filters", "ranking_options"})
FILE_SEARCH_RANKERS = ("auto", "default-2024-11-15")
DEFAULT_FILE_SEARCH_RESULTS = 20
"""As a run's file_search (OpenAI's "max chunks in context")."""


def file_search_tool(tools: list[dict[str, Any]] | None) -> tuple[int, dict[str, Any]] | None:
    """The request's file_search tool checked (a 400 naming `tools[i]...`) and with its defaults filled
    in, as `response.tools` shows it, with its index in `tools`; None without one."""
    found = [(i, tool) for i, tool in enumerate(tools or ())
             if isinstance(tool, Mapping) and tool.get("type") == "file_search"]
    if not found:
        return None
    if len(found) > 1:
        raise _bad(f"tools[{found[1][0]}]", "At most one file_search tool is allowed.")
    i, tool = found[0]
    where = f"tools[{i}]"
    unknown = sorted(set(tool) - FILE_SEARCH_KEYS)
    if unknown:
        raise _bad(f"{where}.{unknown[0]}", f"'{where}.{unknown[0]}' is not supported by this server.",
                   "unsupported_parameter")
    ids = tool.get("vector_store_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(x, str) and x for x in ids):
        raise _bad(f"{where}.vector_store_ids", f"'{where}.vector_store_ids' must list at least one vector "
                                                "store id.")
    limit = tool.get("max_num_results", DEFAULT_FILE_SEARCH_RESULTS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
        raise _bad(f"{where}.max_num_results", f"'{where}.max_num_results' must be an integer from 1 to 50.")
    if tool.get("filters") is not None:
        parse_filter(tool["filters"], f"{where}.filters")
    ranking = tool.get("ranking_options") or {}
    if not isinstance(ranking, Mapping):
        raise _bad(f"{where}.ranking_options", f"'{where}.ranking_options' must be an object.")
    if ranking.get("hybrid_search") is not None:
        # Our fusion weighs keyword and vector ranks equally; other weights would change the results.
        raise _bad(f"{where}.ranking_options.hybrid_search", "Weighted hybrid search ('hybrid_search') is "
                   "not supported by this server.", "unsupported_parameter")
    ranker = ranking.get("ranker") or "auto"
    if ranker not in FILE_SEARCH_RANKERS:
        raise _bad(f"{where}.ranking_options.ranker", f"'{where}.ranking_options.ranker' must be one of "
                                                      f"{', '.join(FILE_SEARCH_RANKERS)}.")
    threshold = ranking.get("score_threshold", 0.0)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise _bad(f"{where}.ranking_options.score_threshold",
                   f"'{where}.ranking_options.score_threshold' must be a number from 0 to 1.")
    return i, {"type": "file_search", "vector_store_ids": list(ids), "max_num_results": limit,
               "filters": tool.get("filters"),
               "ranking_options": {"ranker": ranker, "score_threshold": float(threshold)}}


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Flat Responses function tools -> the nested chat form (`{"type","function":{...}}`); the
    file_search tool is not the model's to call (see `file_search_tool`)."""
    out = []
    for i, tool in enumerate(tools or ()):
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        if kind == "file_search":
            continue
        if kind != "function":
            raise _bad(f"tools[{i}].type", f"Tools of type '{kind}' are not supported by this server.",
                       "unsupported_parameter")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
        out.append({"type": "function", "function": function})
    return out


def echoed_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The tools as `response.tools` shows them (flat, with the defaults filled in)."""
    searching = file_search_tool(tools)
    return [searching[1] if searching is not None and t.get("type") == "file_search" else
            {"type": "function", "name": t["name"], "description": t.get("description"),
             "parameters": t.get("parameters"), "strict": t.get("strict", True)} for t in tools or ()]


def searches(tools: list[dict[str, Any]] | None, tool_choice: Any) -> bool:
    """Whether the response searches its file_search tool's stores: it has one and tool_choice is not
    `none` (the search runs before the model's turn, so `auto`, `required` and a forced file_search all
    make it)."""
    return file_search_tool(tools) is not None and tool_choice != "none"


def chat_tool_choice(choice: Any) -> Any:
    if choice is None or isinstance(choice, str):
        return choice
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    kind = choice.get("type") if isinstance(choice, Mapping) else type(choice).__name__
    raise _bad("tool_choice", f"tool_choice of type '{kind}' is not supported by this server.",
               "unsupported_parameter")


def chat_response_format(text: Mapping[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping):
        raise _bad("text.format", "'text.format' must be an object.")
    kind = fmt.get("type")
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind == "json_schema":
        spec = {k: fmt[k] for k in ("name", "description", "schema", "strict") if k in fmt}
        if "name" not in spec:
            raise _bad("text.format.name", "Missing required parameter: 'text.format.name'.")
        return {"type": "json_schema", "json_schema": spec}
    raise _bad("text.format.type", f"text.format of type '{kind}' is not supported by this server.",
               "unsupported_parameter")


def plan(tools: list[dict[str, Any]] | None, tool_choice: Any, parallel_tool_calls: bool | None,
         text: Mapping[str, Any] | None, max_tool_calls: int | None) -> TurnPlan:
    """The turn's decoding plan (prompt tools, call mode, grammar), as chat completions plan theirs.
    A file_search choice (or `required` with file_search the only tool) is met by the search made
    before the turn, which then decodes as `auto`."""
    searching = file_search_tool(tools) is not None
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") == "file_search":
        if not searching:
            raise _bad("tool_choice", "tool_choice names file_search, which is not among the tools.")
        tool_choice = "auto"
    if tool_choice == "required" and searching and not chat_tools(tools):
        tool_choice = "auto"
    choice = "none" if max_tool_calls == 0 else chat_tool_choice(tool_choice)
    try:
        return check_tool_fields(chat_tools(tools), choice, parallel_tool_calls, chat_response_format(text))
    except InvalidRequest as exc:
        # Chat names its fields differently: tools[0].function.parameters, response_format.json_schema.
        if exc.param:
            exc.param = (exc.param.replace(".function.", ".").replace(".function", "")
                         .replace("response_format.json_schema", "text.format")
                         .replace("response_format", "text.format"))
            inside = re.search(r"\(at '([^']+)'\)", exc.message)  # where in the schema, from the checker
            if inside and exc.param.startswith("tools[") and exc.param.endswith("]"):
                exc.param = f"{exc.param}.{inside.group(1)}"
        exc.message = (exc.message.replace("'response_format", "'text.format")
                       .replace(".function'", "'").replace(".function.", "."))
        raise
