"""Background responses: queued at once, decoded by the worker, their events logged and replayable
(whole, or after `starting_after`, both the raw way and through the SDK helper), cancel, and a
SIGKILL mid-decode after which the response still completes and its stream replays whole."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pydantic

from tests.serverproc import ServerProcess

TERMINAL = {"completed", "incomplete", "failed", "cancelled"}
GREEDY = {"model": "default", "temperature": 0}


class Story(pydantic.BaseModel):
    """Output the grammar makes end on its own: a few numbers (strings may hold a raw newline, see the
    report: the grammar path lets one through)."""

    numbers: list[int] = pydantic.Field(max_length=12)


def wait_until(client: openai.OpenAI, response_id: str, statuses: set[str], timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = client.responses.retrieve(response_id)
        if response.status in statuses or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def check_whole_stream(events: list[Any]) -> None:
    """One attempt's events, exactly: numbered 0.. without gaps, created (queued) first, one terminal."""
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.queued", "response.in_progress"]
    assert events[0].response.status == "queued"
    assert kinds.count("response.created") == 1 and kinds.count("response.in_progress") == 1
    assert kinds[-1] in {"response.completed", "response.incomplete", "response.failed"}


def test_background_poll_and_replay(model_client: openai.OpenAI) -> None:
    queued = model_client.responses.create(input="Tell a story.", background=True, max_output_tokens=12,
                                           **GREEDY)
    assert queued.status == "queued" and queued.background and queued.output == []
    done = wait_until(model_client, queued.id, TERMINAL)
    assert done.status == "incomplete" and done.usage.output_tokens == 12 and done.output_text
    events = list(model_client.responses.retrieve(queued.id, stream=True))
    check_whole_stream(events)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == done.output_text
    assert events[-1].response.output_text == done.output_text


def test_background_stream_resumes_both_ways(model_client: openai.OpenAI) -> None:
    seen = []
    stream = model_client.responses.create(input="List some numbers as JSON.", background=True, stream=True,
                                           max_output_tokens=80, text={"format": {  # type: ignore[arg-type]
                                               "type": "json_schema", "name": "story", "strict": True,
                                               "schema": Story.model_json_schema()}}, **GREEDY)
    for event in stream:
        seen.append(event)
        if event.sequence_number == 10:
            break
    stream.close()  # the client goes away; the worker goes on decoding
    response_id = seen[0].response.id
    assert [e.sequence_number for e in seen] == list(range(11))

    rest = list(model_client.responses.retrieve(response_id, stream=True, starting_after=10))
    assert rest[0].sequence_number == 11
    check_whole_stream(seen + rest)

    resume = model_client.responses.stream
    with resume(response_id=response_id, starting_after=10, text_format=Story) as helper:
        resumed = list(helper)
        final = helper.get_final_response()
    assert [e.sequence_number for e in resumed] == [e.sequence_number for e in rest]
    assert isinstance(final.output_parsed, Story)
    assert final.output_text == model_client.responses.retrieve(response_id).output_text
    # Resumed at the terminal event: the stream ends at once (the client's timeout is under the
    # 15 s keepalive, so a stream waiting for more fails here rather than hanging).
    last = rest[-1].sequence_number
    quick = model_client.with_options(timeout=10, max_retries=0)
    assert list(quick.responses.retrieve(response_id, stream=True, starting_after=last)) == []


def test_cancel_background(model_client: openai.OpenAI) -> None:
    running = model_client.responses.create(input="Count from one to one thousand: one, two,",
                                            background=True, max_output_tokens=600, **GREEDY)
    assert wait_until(model_client, running.id, {"in_progress", *TERMINAL}).status == "in_progress"
    cancelled = model_client.responses.cancel(running.id)
    assert cancelled.status == "cancelled"
    assert model_client.responses.cancel(running.id).status == "cancelled"  # idempotent
    stored = model_client.responses.retrieve(running.id)
    assert stored.status == "cancelled" and stored.usage is not None and stored.usage.output_tokens < 600
    events = list(model_client.responses.retrieve(running.id, stream=True))
    assert events[-1].response.status == "cancelled"
    assert [e.sequence_number for e in events] == list(range(len(events)))

    waiting = model_client.responses.create(input="x", background=True, max_output_tokens=1, **GREEDY)
    finished = wait_until(model_client, waiting.id, TERMINAL)
    assert model_client.responses.cancel(waiting.id).status == finished.status  # ended: returned as it is


def test_sigkill_during_background_response(tmp_path: Path, bundled_model: Path) -> None:
    args = ("--model", str(bundled_model), "--parallel", "2", "--ctx-size", "2048")
    server = ServerProcess(tmp_path / "data", *args).start()
    try:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0, timeout=300)
        stream = client.responses.create(input="List some numbers as JSON.", background=True, stream=True,
                                         max_output_tokens=100, text={"format": {  # type: ignore[arg-type]
                                             "type": "json_schema", "name": "story",
                                             "schema": Story.model_json_schema()}}, **GREEDY)
        seen = []
        for event in stream:
            seen.append(event)
            if event.sequence_number == 8:  # deltas are committed: decoding is under way
                break
        response_id = seen[0].response.id
    finally:
        server.kill()  # SIGKILL: no shutdown runs
    server = ServerProcess(tmp_path / "data", *args, port=server.port).start()
    try:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0, timeout=300)
        done = wait_until(client, response_id, TERMINAL)
        assert done.status == "completed"
        assert isinstance(Story.model_validate_json(done.output_text), Story)
        events = list(client.responses.retrieve(response_id, stream=True))
        check_whole_stream(events)  # the interrupted attempt's events are gone, the new one's complete
        assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == done.output_text
    finally:
        server.stop()
