"""Unit tests of the tools package: schema subset, grammars, call parsing, rendering, plans, deltas."""

from __future__ import annotations

import json

import msgspec
import pytest

from assistants import protocol as p
from assistants.errors import InvalidRequest
from assistants.inference.gbnf import grammar_for_schema
from assistants.prompt import GEMMA_TEMPLATE, ChatTemplate
from assistants.protocol import jsonschema as schema
from assistants.protocol import patterns
from assistants.tools import calls, render
from assistants.tools.holdback import CallHoldBack, TurnOutput
from assistants.tools.plan import MAX_PARALLEL_CALLS, plan_turn, tool_calls_schema

WEATHER = {"name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                           "unit": {"enum": ["c", "f"]}},
                          "required": ["city"]}}
TOOLS = [{"type": "function", "function": WEATHER}]


# -- schema subset -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, path", [
    ({"type": "integer", "minimum": 0}, "minimum"),
    ({"type": "object", "properties": {"age": {"type": "integer", "maximum": 3}}}, "properties.age.maximum"),
    ({"allOf": [{"type": "string"}]}, "allOf"),
    ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "uniqueItems"),
    ({"type": "string", "pattern": "abc"}, "pattern"),
    ({"type": "string", "format": "email"}, "format"),
    ({"$ref": "https://example.com/schema"}, "$ref"),
    ({"type": "thing"}, "type"),
    ({"anyOf": [{"type": "string"}, {"not": {}}]}, "anyOf[1].not"),
])
def test_unsupported_keywords_are_refused_with_their_path(bad, path):
    with pytest.raises(schema.SchemaError) as err:
        schema.check_schema(bad)
    assert err.value.path == path


def test_supported_schema_passes_and_builds_a_grammar():
    good = {"type": "object", "$defs": {"P": {"type": "object", "properties": {"x": {"type": "number"}}}},
            "properties": {"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                           "p": {"$ref": "#/$defs/P"}, "when": {"type": "string", "format": "date"},
                           "kind": {"anyOf": [{"const": "a"}, {"type": "null"}]}},
            "required": ["tags"], "title": "T", "description": "d"}
    schema.check_schema(good)
    grammar = grammar_for_schema(good)
    assert grammar.startswith("") and "root ::=" in grammar


def test_recursive_refs_are_refused():
    recursive = {"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
                 "$ref": "#/$defs/N"}
    with pytest.raises(schema.SchemaError):
        tool_calls_schema([{"name": "f", "parameters": recursive}], parallel=False)
    with pytest.raises(schema.SchemaError) as err:  # found when the request decodes, not at run time
        schema.check_schema(recursive, "parameters")
    assert err.value.path == "parameters.$ref"
    with pytest.raises(schema.SchemaError):
        schema.check_schema({"$ref": "#/$defs/Missing"})


def test_objects_without_additional_properties_are_closed_for_the_grammar():
    closed = schema.closed({"type": "object", "properties": {"a": {"type": "object", "properties": {}}}})
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] is False
    open_ = schema.closed({"type": "object", "properties": {}, "additionalProperties": True})
    assert open_["additionalProperties"] is True


@pytest.mark.parametrize("bad, path", [
    ({"type": "string", "pattern": "^[a-z]+$", "maxLength": 4}, "maxLength"),
    ({"type": "string", "pattern": "^[0-9-]+$", "format": "date"}, "format"),
    ({"type": "string", "pattern": '^say "hi"$'}, "pattern"),
    ({"type": "string", "pattern": "^a\\nb$"}, "pattern"),
    ({"type": "string", "pattern": "^(?=a)b$"}, "pattern"),
    ({"type": "string", "minLength": 3, "maxLength": 2}, "minLength"),
    ({"type": "array", "items": {"type": "string"}, "maxItems": -1}, "maxItems"),
    ({"type": "array", "prefixItems": [{"type": "string"}], "minItems": 2}, "prefixItems"),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]}, "required"),
])
def test_what_the_grammar_cannot_enforce_is_refused(bad, path):
    with pytest.raises(schema.SchemaError) as err:
        schema.check_schema(bad)
    assert err.value.path == path


@pytest.mark.parametrize("pattern, safe", [
    ("^[a-z]{2}-[a-z]{2}$", "^[a-z]{2}-[a-z]{2}$"),
    ("^[^,]+$", "^[\\x20-\\x21\\x23-\\x2B\\x2D-\\x5B\\x5D-\\U0010FFFF]+$"),  # no quote, backslash, controls
    ("^[ -~]{1,5}$", "^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]{1,5}$"),
    ("^\\d{3}\\.\\w$", "^[0-9]{3}[\\x2E][0-9A-Z\\x5Fa-z]$"),
    ("^(?:ab|cd)+$", "^(ab|cd)+$"),
])
def test_patterns_are_rewritten_into_json_safe_classes(pattern, safe):
    assert patterns.json_safe_pattern(pattern) == safe


def rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.splitlines())


def test_grammar_strings_hold_no_raw_control_characters_and_literals_keep_their_escapes():
    grammar = rules(grammar_for_schema({"type": "object", "properties": {
        "s": {"type": "string", "maxLength": 3}, "e": {"enum": ["C:\\temp", 'say "hi"', "a\tb"]}},
        "required": ["s", "e"]}))
    assert grammar["char"].startswith('[^"\\\\\\x7F\\x00-\\x1F]')
    # JSON text "C:\\temp" as a GBNF literal: each backslash doubled again
    assert grammar["e"] == '"\\"C:\\\\\\\\temp\\"" | "\\"say \\\\\\"hi\\\\\\"\\"" | "\\"a\\\\tb\\""'


def test_keywords_the_converter_would_drop_reach_the_grammar():
    code = {"type": "string", "pattern": "^[a-z]{2}$"}
    by_ref = rules(grammar_for_schema({"$defs": {"code": code}, "type": "object", "properties": {
        "code": {"type": "string", "maxLength": 8},
        "codes": {"type": "array", "items": {"$ref": "#/$defs/code"}}},
        "required": ["code", "codes"]}))
    assert "[a-z]" in by_ref["codes-item-1"]  # not the property `code`'s rule
    listed = rules(grammar_for_schema({"type": ["string", "null"], "pattern": "^[a-z]{2}$"}))
    assert listed["root"] == "alternative-0 | null" and "[a-z]" in listed["alternative-0-1"]
    beside = schema.prepared({"anyOf": [{"type": "string"}, {"type": "null"}], "maxLength": 2, "title": "t"})
    assert beside == {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "null", "maxLength": 2}]}
    tuple_ = schema.prepared({"type": "array", "prefixItems": [{"type": "integer"}],
                              "items": {"type": "string"}})
    assert tuple_ == {"type": "array", "prefixItems": [{"type": "integer"}]}


def test_tool_call_schema_names_the_function_and_bounds_the_list():
    single = tool_calls_schema([WEATHER], parallel=False)
    calls_ = single["properties"]["tool_calls"]
    assert calls_["maxItems"] == 1 and calls_["minItems"] == 1
    assert calls_["items"]["properties"]["name"] == {"const": "get_weather"}
    several = tool_calls_schema([WEATHER, {"name": "noop"}], parallel=True)
    options = several["properties"]["tool_calls"]["items"]["anyOf"]
    assert options[1]["properties"]["arguments"] == {"type": "object", "properties": {}}
    assert several["properties"]["tool_calls"]["maxItems"] == MAX_PARALLEL_CALLS


def test_request_decoding_turns_schema_errors_into_a_400_naming_the_field():
    body = {"model": "m", "tools": [{"type": "function", "function": {
        "name": "f",
        "parameters": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}]}
    with pytest.raises(InvalidRequest) as err:
        p.decode(p.CreateAssistantRequest, msgspec.json.encode(body))
    assert err.value.param == "tools[0].function"
    assert "minimum" in str(err.value.message)
    fmt = {"model": "m", "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "string", "format": "email"}}}}
    with pytest.raises(InvalidRequest) as err:
        p.decode(p.CreateAssistantRequest, msgspec.json.encode(fmt))
    assert err.value.param == "response_format.json_schema"


# -- parsing calls ---------------------------------------------------------------------------------

def test_parse_generic_calls():
    found = calls.parse_tool_calls(' {"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}\n',
                                   {"get_weather"})
    assert found is not None and len(found) == 1
    assert found[0].name == "get_weather" and json.loads(found[0].arguments) == {"city": "Paris"}
    assert found[0].id.startswith("call_") and len(found[0].id) > 10


def test_parse_hermes_blocks_and_single_objects():
    text = ('<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n'
            '<tool_call>{"name": "b", "arguments": "{\\"x\\": 1}"}</tool_call>')
    found = calls.parse_tool_calls(text, {"a", "b"})
    assert [c.name for c in found] == ["a", "b"] and json.loads(found[1].arguments) == {"x": 1}
    assert len({c.id for c in found}) == 2
    assert calls.parse_tool_calls('{"name":"a","arguments":{"k":true}}', {"a"})[0].arguments == '{"k": true}'


@pytest.mark.parametrize("text", [
    "Hello there", "", '{"tool_calls":[{"name":"unknown","arguments":{}}]}',
    '{"tool_calls":[{"name":"a","arguments":[]}]}', '{"tool_calls":[]}', '{"a": 1}',
    '{"tool_calls":[{"name":"a","arguments":{}}]} and some text', '<tool_call>{"name":"a"}</tool_call>',
    '{"tool_calls":[{"name":"a","arguments":{}}', '<tool_call>{"name":"a","arguments":{}}</tool_call> hi',
])
def test_anything_else_is_text(text):
    assert calls.parse_tool_calls(text, {"a"}) is None


def test_may_become_call_decides_at_the_first_visible_character():
    assert calls.may_become_call("  {") and calls.may_become_call("\n<tool")
    assert not calls.may_become_call(" The") and not calls.may_become_call("")


# -- deltas ----------------------------------------------------------------------------------------

def test_chat_deltas_send_id_and_name_once_per_index():
    found = [calls.ToolCall("call_1", "a", '{"x":1}'), calls.ToolCall("call_2", "b", "{}")]
    deltas = calls.chat_call_deltas(found)
    assert deltas == [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "a", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"x":1}'}},
        {"index": 1, "id": "call_2", "type": "function", "function": {"name": "b", "arguments": ""}},
        {"index": 1, "function": {"arguments": "{}"}},
    ]


def test_step_deltas_follow_the_streaming_reference_shape():
    payloads = calls.step_call_deltas("step_1", [calls.ToolCall("call_1", "get_w", '{"city":"Paris"}')])
    opening = {"index": 0, "id": "call_1", "type": "function",
               "function": {"name": "get_w", "arguments": "", "output": None}}
    assert payloads[0] == {"id": "step_1", "object": "thread.run.step.delta", "delta": {"step_details": {
        "type": "tool_calls", "tool_calls": [opening]}}}
    later = payloads[1]["delta"]["step_details"]["tool_calls"][0]
    assert "id" not in later and "name" not in later["function"]
    assert later["function"]["arguments"] == '{"city":"Paris"}'


# -- rendering -------------------------------------------------------------------------------------

GEMMA = ChatTemplate(GEMMA_TEMPLATE, "<bos>", "<eos>", "builtin:gemma")


def test_gemma_fallback_renders_tools_calls_and_results_golden():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22C"},
    ]
    assert not GEMMA.supports_tools
    prompt = GEMMA.render(messages, tools=TOOLS)
    assert prompt == (
        "<bos><start_of_turn>user\nBe brief.\n\n"
        "You can call these functions:\n"
        "- get_weather: Current weather\n"
        '  parameters (JSON Schema): {"type": "object", "properties": {"city": {"type": "string"}, '
        '"unit": {"enum": ["c", "f"]}}, "required": ["city"]}\n'
        "To call functions, answer with only this JSON and nothing else:\n"
        '{"tool_calls":[{"name":"<function name>","arguments":{<arguments as JSON>}}]}\n\n'
        "Weather in Paris?<end_of_turn>\n"
        "<start_of_turn>model\n"
        # A past call reads exactly as the model was asked to write it (compact, as above).
        '{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}<end_of_turn>\n'
        "<start_of_turn>user\nResult of get_weather (call_1):\n22C<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_fallback_without_a_system_message_adds_one():
    out = render.fallback_messages([{"role": "user", "content": "hi"}], TOOLS)
    assert out[0]["role"] == "system" and out[0]["content"].startswith("You can call these functions:")
    assert out[1] == {"role": "user", "content": "hi"}


TOOL_TEMPLATE = """{%- if tools %}TOOLS:{% for t in tools %}{{ t.function.name }};{% endfor %}
{% endif %}{%- for m in messages -%}
{%- if m.tool_calls %}{% for c in m.tool_calls %}CALL {{ c.function.name }} {{ c.function.arguments|tojson }}
{% endfor %}{% elif m.role == 'tool' %}TOOL[{{ m.tool_call_id }}] {{ m.content }}
{% else %}{{ m.role }}: {{ m.content }}
{% endif %}{%- endfor -%}"""


def test_templates_with_tool_support_get_tools_and_object_arguments():
    template = ChatTemplate(TOOL_TEMPLATE, "", "", "file")
    assert template.supports_tools
    prompt = template.render([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22C"}], tools=TOOLS)
    assert prompt == ('TOOLS:get_weather;user: hi\nCALL get_weather {"city": "Paris"}\nTOOL[call_1] 22C\n')


def test_a_comment_mentioning_tools_does_not_count_as_support():
    assert not render.template_supports_tools("{# tools are not supported #}{{ messages }}")


# -- plans -----------------------------------------------------------------------------------------

def test_plans_for_each_tool_choice():
    none = plan_turn(TOOLS, "none", True, "auto")
    assert none.calls == "never" and none.tools is None and none.grammar is None
    auto = plan_turn(TOOLS, "auto", True, "auto")
    assert auto.calls == "maybe" and auto.grammar is None and auto.tools == TOOLS
    forced = plan_turn(TOOLS, "required", True, None)
    assert forced.calls == "forced" and "get-weather" in forced.grammar.replace("_", "-")
    named = plan_turn([*TOOLS, {"type": "function", "function": {"name": "other"}}],
                      {"type": "function", "function": {"name": "other"}}, False, None)
    assert named.names == {"other"} and '"\\"other\\""' in named.grammar
    with pytest.raises(InvalidRequest) as err:
        plan_turn(TOOLS, {"type": "function", "function": {"name": "missing"}}, True, None)
    assert err.value.param == "tool_choice"


def test_plans_for_response_formats():
    assert plan_turn(None, None, True, {"type": "json_object"}).grammar is not None
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "properties": {
        "a": {"type": "integer"}}, "required": ["a"]}}}
    only_json = plan_turn(None, "auto", True, fmt)
    assert only_json.json_output and only_json.calls == "never" and '"\\"a\\""' in only_json.grammar
    both = plan_turn(TOOLS, "auto", True, fmt)
    assert both.calls == "maybe" and "tool-calls" in both.grammar and '"\\"a\\""' in both.grammar
    assert plan_turn(None, None, True, {"type": "text"}).grammar is None


# -- holding back output that may be calls -----------------------------------------------------

def feed_all(plan, pieces, reason="stop"):
    holdback = CallHoldBack(plan)
    streamed = [text for text in map(holdback.feed, pieces) if text is not None]
    return streamed, holdback.finish(reason)


def test_plain_text_streams_at_once_and_a_call_is_held_until_the_end():
    auto = plan_turn(TOOLS, "auto", True, None)
    streamed, rest = feed_all(auto, [" ", "Hel", "lo"])
    assert streamed == [" Hel", "lo"] and rest.content == "" and rest.calls is None
    call = '{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}'
    streamed, rest = feed_all(auto, ["\n", call[:5], call[5:]])
    assert streamed == [] and rest.finish_reason == "tool_calls"
    assert [(c.name, json.loads(c.arguments)) for c in rest.calls] == [("get_weather", {"city": "Paris"})]


def test_held_text_that_is_no_call_comes_out_as_text_and_a_cut_off_call_is_text():
    auto = plan_turn(TOOLS, "auto", True, None)
    streamed, rest = feed_all(auto, ["{not", " json}"])
    assert streamed == [] and rest == TurnOutput("{not json}", None, "stop")
    forced = plan_turn(TOOLS, "required", True, None)
    call = '{"tool_calls":[{"name":"get_weather","arguments":{}}]}'
    streamed, rest = feed_all(forced, [call], reason="length")
    assert streamed == [] and rest.calls is None and rest.content == call and rest.finish_reason == "length"
    never = plan_turn(TOOLS, "none", True, None)
    assert feed_all(never, ["{", "x"]) == (["{", "x"], TurnOutput("", None, "stop"))
