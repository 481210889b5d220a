"""Function tools in runs, with the real bundled model and the official SDK.

The bundled model is a base model: tool calls are reliable only because a forced tool_choice makes
the grammar write them. A run's answer after the tool outputs is bounded by max_completion_tokens;
with a JSON response_format the grammar also ends it, so that run `completed`.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta.threads.runs import ToolCall, ToolCallDelta

from tests.integration.conftest import MODEL_SERVER_TOOL_ROUNDS

WEATHER_PARAMS = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                                                   "unit": {"type": "string", "enum": ["c", "f"]}},
                  "required": ["city"]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                            "parameters": WEATHER_PARAMS}}
TIME_PARAMS = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
               "required": ["city"]}
TIME = {"type": "function", "function": {"name": "get_time", "description": "Local time in a city",
                                         "parameters": TIME_PARAMS}}
FORCE_WEATHER = {"type": "function", "function": {"name": "get_weather"}}
ANSWER = {"type": "object", "properties": {"temperature_c": {"type": "integer"},
                                           "sky": {"type": "string", "enum": ["sunny", "cloudy", "rainy"]}},
          "required": ["temperature_c", "sky"], "additionalProperties": False}


@pytest.fixture()
def assistant_id(model_client: openai.OpenAI) -> str:
    return model_client.beta.assistants.create(
        model="default", instructions="You answer questions about the weather.", tools=[WEATHER, TIME]).id


def new_thread(client: openai.OpenAI, text: str = "What is the weather in Paris?") -> str:
    return client.beta.threads.create(messages=[{"role": "user", "content": text}]).id


def test_forced_call_requires_action_then_outputs_complete_the_run(
        model_client: openai.OpenAI, assistant_id: str) -> None:
    client = model_client
    thread_id = new_thread(client)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, tool_choice=FORCE_WEATHER, parallel_tool_calls=False,
        temperature=0, max_completion_tokens=64, poll_interval_ms=100,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER}})
    assert run.status == "requires_action", run
    assert run.required_action is not None and run.required_action.type == "submit_tool_outputs"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_PARAMS)

    (step,) = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id).data
    assert step.type == "tool_calls" and step.status == "in_progress"
    assert [c.id for c in step.step_details.tool_calls] == [call.id]  # type: ignore[union-attr]
    assert step.step_details.tool_calls[0].function.output is None  # type: ignore[union-attr]

    # Outputs must cover every pending call, and only those.
    for outputs in ([], [{"tool_call_id": "call_nope", "output": "x"}],
                    [{"tool_call_id": call.id, "output": "x"}, {"tool_call_id": call.id, "output": "y"}]):
        with pytest.raises(openai.BadRequestError) as err:
            client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread_id, tool_outputs=outputs)
        assert err.value.param == "tool_outputs"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status == "requires_action"

    result = '{"temperature_c": 22, "sky": "sunny"}'
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread_id, poll_interval_ms=100,
        tool_outputs=[{"tool_call_id": call.id, "output": result}])
    # After the outputs the run continues with tool_choice auto (the forced choice forced the first
    # turn); a base model may call again, which is a legal agent loop: answer those rounds too, up to
    # the server's --max-tool-rounds, after which the run must answer.
    rounds = 1
    while done.status == "requires_action":
        assert rounds < MODEL_SERVER_TOOL_ROUNDS, done
        pending = done.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
        done = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread_id, poll_interval_ms=100,
            tool_outputs=[{"tool_call_id": c.id, "output": result} for c in pending])
        rounds += 1
    assert done.status == "completed", done
    usage = done.usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    steps = client.beta.threads.runs.steps.list(done.id, thread_id=thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls"] * rounds + ["message_creation"]
    assert all(s.status == "completed" for s in steps)
    assert steps[0].step_details.tool_calls[0].function.output == '{"temperature_c": 22, "sky": "sunny"}'  # type: ignore[union-attr]
    message = client.beta.threads.messages.list(thread_id, order="desc").data[0]
    assert message.role == "assistant" and message.run_id == done.id
    jsonschema.validate(json.loads(message.content[0].text.value), ANSWER)  # type: ignore[union-attr]

    # Late outputs: the run is no longer waiting for any.
    with pytest.raises(openai.BadRequestError) as err:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread_id, tool_outputs=[{"tool_call_id": call.id, "output": "again"}])
    assert err.value.param == "run_id"


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.created: list[ToolCall] = []
        self.deltas: list[ToolCallDelta] = []

    def on_event(self, event: Any) -> None:
        self.names.append(event.event)

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        self.created.append(tool_call)

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        self.deltas.append(delta)


def test_streamed_call_and_streamed_submission(model_client: openai.OpenAI, assistant_id: str) -> None:
    client = model_client
    thread_id = new_thread(client, "What time is it in Tokyo?")
    first = Recorder()
    with client.beta.threads.runs.stream(
            thread_id=thread_id, assistant_id=assistant_id, tool_choice="required", parallel_tool_calls=False,
            temperature=0, max_completion_tokens=64, event_handler=first) as stream:
        stream.until_done()
    run = first.get_final_run()
    assert run.status == "requires_action"
    assert first.names[-1] == "thread.run.requires_action"
    assert first.names[3:5] == ["thread.run.step.created", "thread.run.step.in_progress"]
    assert "thread.run.step.delta" in first.names
    (call,) = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    schema = {"get_weather": WEATHER_PARAMS, "get_time": TIME_PARAMS}[call.function.name]
    jsonschema.validate(json.loads(call.function.arguments), schema)
    # The handler rebuilt the call from deltas: id and name sent once, arguments accumulated.
    (step,) = first.get_final_run_steps()
    (rebuilt,) = step.step_details.tool_calls  # type: ignore[union-attr]
    assert rebuilt.id == call.id and rebuilt.function.name == call.function.name  # type: ignore[union-attr]
    assert rebuilt.function.arguments == call.function.arguments  # type: ignore[union-attr]

    second = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=thread_id, event_handler=second,
            tool_outputs=[{"tool_call_id": call.id, "output": "It is 9 pm."}]) as stream:
        stream.until_done()
    final = second.get_final_run()
    assert second.names[:3] == ["thread.run.step.completed", "thread.run.queued", "thread.run.in_progress"]
    # A base model's answer ends at EOS or at max_completion_tokens: both end the run.
    assert final.status in ("completed", "incomplete"), final
    assert second.names[-1] == f"thread.run.{final.status}"
    (message,) = second.get_final_messages()
    assert message.run_id == run.id and message.role == "assistant"


def test_unsupported_tool_schema_is_a_400_naming_the_field(model_client: openai.OpenAI) -> None:
    bad = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}}}
    with pytest.raises(openai.BadRequestError) as err:
        model_client.beta.assistants.create(model="default", tools=[bad])
    assert err.value.param == "tools[0].function" and "minimum" in str(err.value.message)
    with pytest.raises(openai.BadRequestError) as err:
        model_client.beta.assistants.create(model="default", tools=[{"type": "code_interpreter"}])
    assert err.value.param == "tools"
