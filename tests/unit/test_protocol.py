"""Wire types: every key present, exact `object` strings, request validation with a useful `param`."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from assistants import protocol as p
from assistants.errors import InvalidRequest

NOW = 1_700_000_000


def _keys(obj: Any) -> dict[str, Any]:
    return msgspec.json.decode(p.encoder.encode(obj))


def test_objects_emit_every_key_with_nulls() -> None:
    run = p.run_object({
        "id": "run_1", "created_at": NOW, "thread_id": "thread_1", "assistant_id": "asst_1",
        "status": "queued",
        "required_action": None, "last_error": None, "expires_at": NOW + 600, "started_at": None,
        "cancelled_at": None, "failed_at": None, "completed_at": None, "incomplete_details": None,
        "model": "m", "instructions": "", "tools": [], "metadata": {}, "usage": None, "temperature": 1.0,
        "top_p": 1.0, "max_prompt_tokens": None, "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None}, "tool_choice": "auto",
        "parallel_tool_calls": True, "response_format": "auto", "sequence": 7, "attempts": 0,
    })
    wire = _keys(run)
    assert wire["object"] == "thread.run"
    for key in ("required_action", "last_error", "started_at", "cancelled_at", "failed_at", "completed_at",
                "incomplete_details", "usage", "max_prompt_tokens", "max_completion_tokens"):
        assert key in wire and wire[key] is None
    assert "sequence" not in wire and "attempts" not in wire

    message = _keys(p.message_object({
        "id": "msg_1", "created_at": NOW, "thread_id": "thread_1", "status": "completed",
        "incomplete_details": None, "completed_at": NOW, "incomplete_at": None, "role": "user",
        "content": [{"type": "text", "text": {"value": "hi", "annotations": []}}], "assistant_id": None,
        "run_id": None, "attachments": [], "metadata": {}}))
    assert set(message) == {"id", "object", "created_at", "thread_id", "status", "incomplete_details",
                            "completed_at", "incomplete_at", "role", "content", "assistant_id", "run_id",
                            "attachments", "metadata"}
    assert message["object"] == "thread.message"
    thread = _keys(p.thread_object({"id": "thread_1", "created_at": NOW, "metadata": {},
                                    "tool_resources": {}}))
    assert thread == {"id": "thread_1", "object": "thread", "created_at": NOW, "metadata": {},
                      "tool_resources": {}}
    assert _keys(p.Deleted(id="asst_1", object="assistant.deleted")) == {
        "id": "asst_1", "object": "assistant.deleted", "deleted": True}
    assert _keys(p.list_response([], False)) == {"object": "list", "data": [], "first_id": None,
                                                 "last_id": None, "has_more": False}


def test_required_action_shape() -> None:
    action = p.RequiredAction(p.SubmitToolOutputs([p.RequiredActionToolCall(
        id="call_1", function=p.RequiredActionFunction(name="f", arguments='{"a":1}'))]))
    assert _keys(action) == {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
        {"type": "function", "id": "call_1", "function": {"name": "f", "arguments": '{"a":1}'}}]}}


def test_string_content_becomes_one_output_text_part() -> None:
    request = p.decode(p.CreateMessageRequest, b'{"role": "user", "content": "hi"}')
    assert _keys(request.output_content()) == [{"type": "text", "text": {"value": "hi", "annotations": []}}]
    parts = p.decode(p.CreateMessageRequest, b'{"role": "user", "content": [{"type": "text", "text": "a"},'
                     b'{"type": "image_url", "image_url": {"url": "http://x/i.png"}}]}')
    assert [part["type"] for part in _keys(parts.output_content())] == ["text", "image_url"]


def test_unknown_fields_that_change_nothing_are_ignored() -> None:
    body = p.decode(p.CreateAssistantRequest, b'{"model": "m", "store": true, "reasoning_effort": "low"}')
    assert body.model == "m"


def test_partial_update_distinguishes_absent_from_null() -> None:
    update = p.decode(p.UpdateAssistantRequest, b'{"name": null}')
    assert update.name is None and update.description is p.UNSET and update.model is p.UNSET


@pytest.mark.parametrize(("type_", "body", "param"), [
    (p.CreateAssistantRequest, b'{}', "model"),
    (p.CreateAssistantRequest, b'{"model": 5}', "model"),
    (p.CreateAssistantRequest, b'{"model": "m", "name": "' + b"n" * 257 + b'"}', "name"),
    (p.CreateAssistantRequest, b'{"model": "m", "description": "' + b"d" * 513 + b'"}', "description"),
    (p.CreateAssistantRequest, b'{"model": "m", "temperature": 2.5}', "temperature"),
    (p.CreateAssistantRequest, b'{"model": "m", "top_p": -0.1}', "top_p"),
    (p.CreateAssistantRequest, b'{"model": "m", "metadata": {"' + b"k" * 65 + b'": "v"}}', "metadata"),
    (p.CreateAssistantRequest, b'{"model": "m", "metadata": {"k": "' + b"v" * 513 + b'"}}', "metadata"),
    (p.CreateAssistantRequest, b'{"model": "m", "metadata": {"k": 1}}', "metadata"),
    (p.CreateAssistantRequest, b'{"model": "m", "tools": [{"type": "code_interpreter"}]}', "tools"),
    (p.CreateAssistantRequest, b'{"model": "m", "tools": [{"type": "file_search", "file_search": '
                               b'{"max_num_results": 51}}]}', "tools[0].file_search.max_num_results"),
    (p.CreateAssistantRequest, b'{"model": "m", "tools": [{"type": "file_search", "file_search": '
                               b'{"ranking_options": {"score_threshold": 2}}}]}',
     "tools[0].file_search.ranking_options.score_threshold"),
    (p.CreateAssistantRequest, b'{"model": "m", "tool_resources": {"file_search": {"vector_store_ids": '
                               b'["vs_1", "vs_2"]}}}', "tool_resources.file_search.vector_store_ids"),
    (p.CreateAssistantRequest, b'{"model": "m", "tool_resources": {"file_search": {"vector_stores": '
                               b'[{"file_ids": ["f"]}, {}]}}}', "tool_resources.file_search.vector_stores"),
    (p.CreateThreadRequest, b'{"tool_resources": {"file_search": {"vector_store_ids": ["vs_1"], '
                            b'"vector_stores": [{}]}}}', "tool_resources.file_search"),
    (p.CreateThreadRequest, b'{"tool_resources": {"file_search": {"vector_stores": [{"chunking_strategy": '
                            b'{"type": "static", "static": {"max_chunk_size_tokens": 50, '
                            b'"chunk_overlap_tokens": 0}}}]}}}',
     "tool_resources.file_search.vector_stores[0].chunking_strategy.static.max_chunk_size_tokens"),
    (p.CreateAssistantRequest, b'{"model": "m", "tools": [{"type": "bogus"}]}', "tools[0].type"),
    (p.CreateAssistantRequest,
     b'{"model": "m", "tools": [{"type": "function", "function": {"name": "a b"}}]}',
     "tools[0].function.name"),
    (p.CreateAssistantRequest, b'{"model": "m", "response_format": "json"}', "response_format"),
    (p.CreateAssistantRequest, b'{"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["f"]}}}',
     "tool_resources.code_interpreter"),
    (p.CreateMessageRequest, b'{"role": "system", "content": "x"}', "role"),
    (p.CreateMessageRequest, b'{"role": "user", "content": ""}', "content"),
    (p.CreateMessageRequest, b'{"role": "user", "content": []}', "content"),
    (p.CreateMessageRequest, b'{"role": "user", "content": "x", "attachments": [{"file_id": "f", '
                             b'"tools": [{"type": "code_interpreter"}]}]}', "attachments"),
    (p.CreateMessageRequest, b'{"role": "user", "content": "x", "attachments": [{"tools": []}]}',
     "attachments[0].file_id"),
    (p.CreateRunRequest, b'{"assistant_id": "a", "max_completion_tokens": 0}', "max_completion_tokens"),
    (p.CreateRunRequest, b'{"assistant_id": "a", "tool_choice": "sometimes"}', "tool_choice"),
    (p.CreateRunRequest, b'{"assistant_id": "a", "tool_choice": {"type": "code_interpreter"}}',
     "tool_choice"),
    (p.CreateRunRequest, b'{"assistant_id": "a", "truncation_strategy": {"type": "last_messages", '
                         b'"last_messages": 0}}', "truncation_strategy.last_messages"),
    (p.CreateRunRequest, b'{"assistant_id": "a", "tools": [' + b",".join(
        [b'{"type": "function", "function": {"name": "f"}}'] * 21) + b"]}", "tools"),
    (p.CreateThreadRequest, b'{"messages": [{"role": "user", "content": "x", "metadata": {' + b",".join(
        b'"k%d": "v"' % i for i in range(17)) + b"}}]}", "messages[0].metadata"),
])
def test_invalid_requests_name_their_param(type_: type, body: bytes, param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        p.decode(type_, body)
    assert raised.value.param == param
    assert raised.value.status_code == 400 and raised.value.message


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b"\xff"])
def test_not_an_object(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        p.decode(p.CreateAssistantRequest, body)


def test_accepted_response_formats_and_tool_choices() -> None:
    for fmt in (b'"auto"', b'{"type": "text"}', b'{"type": "json_object"}',
                b'{"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}'):
        p.decode(p.CreateAssistantRequest, b'{"model": "m", "response_format": ' + fmt + b"}")
    for choice in (b'"none"', b'"auto"', b'"required"', b'{"type": "function", "function": {"name": "f"}}'):
        p.decode(p.CreateRunRequest, b'{"assistant_id": "a", "tool_choice": ' + choice + b"}")
