"""The playground page in a real browser (headless Debian Chromium), against the real model server.

What a person would do: create an assistant, send a message and watch the answer stream, stop a
run, reload mid-run and see the answer keep growing, answer a tool call, chat; and nothing the model
or a user wrote is ever run as HTML. A screenshot of each main view goes to a temp dir (the path is
printed) and must show more than one colour.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import BrowserContext, Page, Request

from tests.integration.browser import chromium, distinct_colours
from tests.integration.conftest import MODEL_SERVER_TOOL_ROUNDS
from tests.integration.sse import read_until_done
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the Assistants API in the SDK

LONG = 800
"""max_completion_tokens of the runs a test stops: long enough to be still going when it does (greedy,
the bundled model goes on with "Tell a long story." past 120 tokens without an end of turn)."""
TERMINAL = ["completed", "incomplete", "cancelled", "failed", "expired"]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                   "required": ["city"]}}}
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>'


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("playground-screenshots")
    print(f"playground screenshots: {folder}")
    return folder


@pytest.fixture()
def page(browser: BrowserContext, model_server: ServerProcess) -> Iterator[Page]:
    """A new tab (so a fresh sessionStorage) on the playground; uncaught script errors fail the test."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(model_server.base_url + "/playground")
    yield tab
    tab.close()
    assert errors == []


@pytest.fixture()
def sdk(model_client: openai.OpenAI) -> openai.OpenAI:
    return model_client


def no_error_shown(page: Page) -> bool:
    return page.is_hidden("#error")


def screenshot(page: Page, shots: Path, name: str, view: str) -> None:
    """The whole page for a person to look at; the view itself must not be blank."""
    page.screenshot(path=shots / f"{name}.png")
    assert distinct_colours(page.locator(f"#view-{view}").screenshot()) > 8, name


def wait_for(page: Page, condition: str, arg: Any = None) -> Any:
    """Wait until the JS function `condition` returns something truthy, and return it. (A function,
    not an expression: the page's CSP forbids eval, which Playwright uses for expressions.)"""
    return page.wait_for_function(condition, arg=arg).json_value()


RUN_STATUS = "() => document.querySelector('#run-status')?.textContent"
LATEST_RUN = "() => document.querySelector('#run-list .status')?.textContent"
ANSWER = "() => document.querySelector('#messages .message.assistant .text')?.textContent ?? ''"


def open_threads(page: Page, assistant_id: str) -> None:
    page.click("#tabs [data-tab=threads]")
    page.wait_for_selector(f"#run-assistant option[value='{assistant_id}']", state="attached")
    page.select_option("#run-assistant", assistant_id)


def start_run(page: Page, text: str, *, max_tokens: int, tool_choice: str = "auto",
              parallel_tool_calls: bool = True) -> None:
    page.fill("#composer [name=content]", text)
    page.fill("#composer [name=max_completion_tokens]", str(max_tokens))
    page.select_option("#composer [name=tool_choice]", tool_choice)
    page.set_checked("#composer [name=parallel_tool_calls]", parallel_tool_calls)
    page.click("#send")


def wait_streaming(page: Page, longer_than: int = 0) -> dict[str, str]:
    """Until the run is in progress and its answer has more than `longer_than` characters, both
    read in one look, so the text was seen while the run was still going."""
    return wait_for(page, """(min) => {
        const status = document.querySelector('#run-status')?.textContent;
        const text = document.querySelector('#messages .message.assistant .text')?.textContent ?? '';
        return status === 'in_progress' && text.length > min && {status, text};
    }""", longer_than)


def stop_and_wait(page: Page) -> None:
    page.click("#stop")
    wait_for(page, "() => document.querySelector('#run-list .status')?.textContent === 'cancelled'")


def live_state(page: Page) -> dict[str, Any]:
    return json.loads(page.evaluate("() => sessionStorage.getItem('assistants.playground.live')") or "null")


def test_create_and_edit_an_assistant(page: Page, sdk: openai.OpenAI, shots: Path) -> None:
    page.fill("#assistant-form [name=name]", "Poet")
    page.fill("#assistant-form [name=instructions]", "Answer in verse.")
    page.fill("#assistant-form [name=temperature]", "0.5")
    page.fill("#assistant-form [name=tools]", json.dumps([WEATHER]))
    page.click("#assistant-save")
    title = wait_for(page, """() => {
        const title = document.querySelector('#assistant-form-title').textContent;
        return title.startsWith('Edit ') && title;
    }""")
    assistant_id = title.removeprefix("Edit ")
    created = sdk.beta.assistants.retrieve(assistant_id)
    assert (created.name, created.instructions, created.temperature) == ("Poet", "Answer in verse.", 0.5)
    assert [tool.function.name for tool in created.tools] == ["get_weather"]  # type: ignore[union-attr]

    page.fill("#assistant-form [name=name]", "Poet laureate")
    page.fill("#assistant-form [name=response_format]", '{"type": "json_object"}')
    page.click("#assistant-save")
    page.wait_for_selector("#assistant-list button.current:has-text('Poet laureate')")
    edited = sdk.beta.assistants.retrieve(assistant_id)
    assert edited.name == "Poet laureate" and edited.response_format.type == "json_object"  # type: ignore[union-attr]

    page.fill("#assistant-form [name=tools]", "[not json")
    page.click("#assistant-save")
    page.wait_for_selector("#error:has-text('tools is not valid JSON')")
    page.fill("#assistant-form [name=tools]", '[{"type": "browser"}]')  # the server's 400 is shown
    page.click("#assistant-save")
    page.wait_for_selector("#error:not([hidden])")
    assert "tools is not valid JSON" not in page.text_content("#error")
    assert sdk.beta.assistants.retrieve(assistant_id).name == "Poet laureate"
    screenshot(page, shots, "assistants", "assistants")


def test_answer_streams_before_the_run_ends_and_stop_cancels(page: Page, sdk: openai.OpenAI,
                                                             shots: Path) -> None:
    assistant = sdk.beta.assistants.create(model="default", name="Storyteller", temperature=0)
    open_threads(page, assistant.id)
    start_run(page, "Tell a long story.", max_tokens=LONG)
    seen = wait_streaming(page)
    assert seen["text"]
    screenshot(page, shots, "thread-streaming", "threads")
    run_id = page.text_content("#run-id")
    thread_id = live_state(page)["threadId"]

    stop_and_wait(page)
    run = sdk.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
    assert run.status == "cancelled" and run.usage is not None and run.usage.completion_tokens < LONG
    (answer,) = [m for m in sdk.beta.threads.messages.list(thread_id).data if m.role == "assistant"]
    assert answer.status == "incomplete"
    assert page.text_content("#messages .message.assistant .text") == answer.content[0].text.value  # type: ignore[union-attr]
    assert page.text_content("#run-status") == "cancelled"
    assert page.locator("#run-details .steps li .status").all_text_contents() == ["cancelled"]
    assert page.is_disabled("#stop")
    assert live_state(page) is None  # nothing left to resume
    # The thread is in the server's thread list, titled by its first message.
    listed = page.locator(f"#thread-list button.current[data-thread='{thread_id}']")
    assert "Tell a long story." in listed.text_content()
    assert no_error_shown(page), page.text_content("#error")
    screenshot(page, shots, "run-cancelled", "threads")


def test_reload_mid_run_resumes_the_stream(page: Page, sdk: openai.OpenAI,
                                           model_server: ServerProcess) -> None:
    assistant = sdk.beta.assistants.create(model="default", name="Storyteller", temperature=0)
    open_threads(page, assistant.id)
    start_run(page, "Tell a long story about a lighthouse.", max_tokens=LONG)
    before = wait_streaming(page)["text"]
    resumed_from: list[str] = []

    def note(request: Request) -> None:
        if request.url.endswith("/events"):
            resumed_from.append(request.headers.get("last-event-id", ""))

    page.on("request", note)
    page.reload()
    # The text from before the reload is back at once (kept with its last event id), then it grows.
    restored = wait_streaming(page)["text"]
    assert restored.startswith(before)
    grown = wait_streaming(page, len(restored))["text"]
    assert grown.startswith(restored)
    state = live_state(page)
    assert resumed_from and int(resumed_from[0]) > 0  # re-attached with Last-Event-ID, not from the start
    assert page.text_content("#messages .message.assistant .text").startswith(grown)

    stop_and_wait(page)
    # No gap and no duplicate across the reload: the text the page built from its events equals the
    # run's event log replayed up to the last event the page had seen.
    (message_id,) = state["messages"]
    with httpx.Client(base_url=model_server.base_url, timeout=60) as http:
        log = read_until_done(http, f"/v1/threads/{state['threadId']}/runs/{state['runId']}/events")
    replayed = "".join(part["text"]["value"] for frame in log
                       if frame.event == "thread.message.delta" and frame.id is not None
                       and frame.id <= state["lastEventId"]
                       for part in frame.json()["delta"]["content"])
    assert replayed == state["messages"][message_id]["text"]
    assert no_error_shown(page), page.text_content("#error")


def test_a_run_started_elsewhere_is_followed(page: Page, sdk: openai.OpenAI) -> None:
    """A thread opened while its run is going (made by the SDK here) replays the run and follows it."""
    assistant = sdk.beta.assistants.create(model="default", name="Storyteller", temperature=0)
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Tell a long story."}],
                                     metadata={"title": "started by the SDK"})
    run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                       max_completion_tokens=LONG)
    open_threads(page, assistant.id)
    page.click(f"#thread-list button[data-thread='{thread.id}']")
    seen = wait_streaming(page)
    assert page.text_content("#run-id") == run.id and seen["text"]
    stop_and_wait(page)
    assert sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "cancelled"
    assert no_error_shown(page), page.text_content("#error")


def test_submit_tool_outputs(page: Page, sdk: openai.OpenAI, shots: Path) -> None:
    # Greedy and one call at a time: a sampled base model may fill its token budget with calls.
    assistant = sdk.beta.assistants.create(
        model="default", name="Weather", tools=[WEATHER],  # type: ignore[list-item]
        instructions="You answer questions about the weather.", temperature=0)
    open_threads(page, assistant.id)
    start_run(page, "What is the weather in Paris?", max_tokens=64, tool_choice="required",
              parallel_tool_calls=False)
    outputs = 0
    for _ in range(MODEL_SERVER_TOOL_ROUNDS + 1):
        # Either the run ended, or it waits for outputs with a fresh, empty form.
        status = wait_for(page, """(terminal) => {
            const status = document.querySelector('#run-list .status')?.textContent;
            const form = document.querySelector('#tool-outputs');
            const fresh = form && !form.querySelector('button').disabled
                && [...form.querySelectorAll('textarea')].every((box) => box.value === '');
            return (terminal.includes(status) && status) || (fresh && 'requires_action');
        }""", TERMINAL)
        if status != "requires_action":
            break
        if outputs == 0:
            assert page.locator("#tool-outputs code").first.text_content() == "get_weather"
            screenshot(page, shots, "requires-action", "threads")
        for box in page.locator("#tool-outputs textarea").all():
            box.fill(f"{HOSTILE} sunny, 21 C")
            outputs += 1
        page.click("#tool-outputs button[type=submit]")
    assert status in ("completed", "incomplete")
    assert outputs >= 1, status
    shown = page.locator("#run-details .tool-output").all_text_contents()
    assert shown == [f"{HOSTILE} sunny, 21 C"] * outputs  # the outputs as text, tags and all
    assert page.locator("#run-details script, #run-details img, #run-details b").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    run_id = page.text_content("#run-id")
    thread_id = page.get_attribute("#thread-list button.current", "data-thread")
    steps = sdk.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc").data
    submitted = [call.function.output for step in steps if step.step_details.type == "tool_calls"  # type: ignore[union-attr]
                 for call in step.step_details.tool_calls]  # type: ignore[union-attr]
    assert submitted == [f"{HOSTILE} sunny, 21 C"] * outputs
    assert no_error_shown(page), page.text_content("#error")
    screenshot(page, shots, "tool-outputs-submitted", "threads")


def test_untrusted_text_renders_as_text(page: Page, sdk: openai.OpenAI, shots: Path) -> None:
    """Names, titles and messages (a seeded "answer" too: a base model cannot be made to write one)."""
    assistant = sdk.beta.assistants.create(model="default", name=HOSTILE)
    thread = sdk.beta.threads.create(metadata={"title": HOSTILE}, messages=[
        {"role": "user", "content": HOSTILE}, {"role": "assistant", "content": f"Sure: {HOSTILE}"}])
    page.reload()  # the assistant and thread exist now
    page.wait_for_selector(f"#assistant-list button:has-text('{assistant.id}')")
    open_threads(page, assistant.id)
    page.click(f"#thread-list button[data-thread='{thread.id}']")
    page.wait_for_selector("#messages .message.assistant")
    assert page.locator("#messages .text").all_text_contents() == [HOSTILE, f"Sure: {HOSTILE}"]
    assert page.text_content("#thread-title") == HOSTILE
    assert HOSTILE in page.text_content(f"#run-assistant option[value='{assistant.id}']")
    assert page.locator("main script, main img, main b, #run-assistant img").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert no_error_shown(page), page.text_content("#error")
    screenshot(page, shots, "thread-untrusted", "threads")


def test_chat_streams_and_stops(page: Page, shots: Path) -> None:
    page.click("#tabs [data-tab=chat]")
    page.wait_for_selector("#chat-model option", state="attached")
    page.fill("#chat-max-tokens", "16")
    page.fill("#chat-composer [name=content]", "Hello")
    page.click("#chat-send")
    wait_for(page, "() => document.querySelectorAll('#chat-messages .message').length === 2 &&"
                   " !document.querySelector('#chat-send').disabled")
    assert page.locator("#chat-messages .role").all_text_contents() == ["user", "assistant"]
    assert page.locator("#chat-messages .text").nth(1).text_content()
    assert "16 completion tokens" in page.text_content("#chat-stats")

    page.fill("#chat-max-tokens", str(LONG))
    page.fill("#chat-composer [name=content]", "Tell a long story.")
    page.press("#chat-composer [name=content]", "Control+Enter")
    wait_for(page, """() => document.querySelector('#chat-send').disabled
        && document.querySelector('#chat-messages .message:last-child .text')?.textContent.length > 0""")
    screenshot(page, shots, "chat-streaming", "chat")
    page.click("#chat-stop")
    wait_for(page, "() => document.querySelector('#chat-stats').textContent.includes('stopped')")
    assert page.locator("#chat-messages .message").count() == 4
    screenshot(page, shots, "chat", "chat")
    texts = page.locator("#chat-messages .text").all_text_contents()
    page.reload()  # the conversation lives in the tab's session storage (chat completions store nothing)
    page.click("#tabs [data-tab=chat]")
    assert page.locator("#chat-messages .text").all_text_contents() == texts
    assert no_error_shown(page), page.text_content("#error")
