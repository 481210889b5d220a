"""`/metrics`: valid Prometheus text from our own registry, and its series move with the traffic."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.opsmodel import ops_model_server  # noqa: F401  (fixture)
from tests.serverproc import ServerProcess, WorkerProcess

PREFIX = "assistants_"


def scrape(base_url: str, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple], float]:
    response = httpx.get(base_url + "/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith(PREFIX), family.name  # our registry only: no process_/python_ series
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_exposition_parses_and_names_follow_conventions(store_server: ServerProcess) -> None:
    text = httpx.get(store_server.base_url + "/metrics").text
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert families == {
        "assistants_runs": "gauge", "assistants_run_queue_depth": "gauge",
        "assistants_runs_in_progress": "gauge",
        "assistants_runs_finished": "counter", "assistants_prompt_tokens": "counter",
        "assistants_completion_tokens": "counter", "assistants_time_to_first_token_seconds": "histogram",
        "assistants_run_duration_seconds": "histogram", "assistants_run_queue_wait_seconds": "histogram",
        "assistants_engine_batch_sequences": "histogram", "assistants_engine_active_sequences": "gauge",
        "assistants_engine_slots": "gauge", "assistants_engine_waiting_requests": "gauge",
        "assistants_sse_subscribers": "gauge", "assistants_http_requests": "counter",
        "assistants_responses": "gauge", "assistants_responses_finished": "counter",
        "assistants_kv_cache_lookups": "counter", "assistants_kv_cache_reused_tokens": "counter",
        "assistants_kv_cache_evictions": "counter", "assistants_kv_cache_preemptions": "counter",
        "assistants_kv_cache_bytes": "gauge",
    }
    assert "_created" not in text  # one sample per series, not a second creation-time series


def test_queue_depth_and_runs_by_status_follow_the_store(store_server: ServerProcess,
                                                         client: openai.OpenAI) -> None:
    before = scrape(store_server.base_url)
    assistant = client.beta.assistants.create(model="any-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)  # stays queued: no model
    after = scrape(store_server.base_url)
    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("assistants_runs", status="queued") == 1
    assert delta("assistants_run_queue_depth") == 1
    assert delta("assistants_runs", status="completed") == 0


def test_http_requests_counted_by_route_template(store_server: ServerProcess, client: openai.OpenAI) -> None:
    before = scrape(store_server.base_url)
    thread = client.beta.threads.create()
    client.beta.threads.retrieve(thread.id)
    httpx.get(store_server.base_url + "/v1/threads/thread_doesnotexist")
    httpx.get(store_server.base_url + "/no/such/route")
    httpx.request("BREW", store_server.base_url + "/no/such/route")
    after = scrape(store_server.base_url)
    routes = {dict(labels).get("route") for name, labels in after if name == "assistants_http_requests_total"}
    assert not any(route and (thread.id in route or "doesnotexist" in route) for route in routes), routes

    def delta(route: str, status: str, method: str = "GET") -> float:
        key = {"method": method, "route": route, "status": status}
        return value(after, "assistants_http_requests_total", **key) - value(
            before, "assistants_http_requests_total", **key)

    template = "/v1/threads/{thread_id}"
    assert delta(template, "200") == 1
    assert delta(template, "404") == 1
    assert delta("/v1/threads", "200", "POST") == 1
    assert delta("unmatched", "404") == 1
    assert delta("unmatched", "404", "other") == 1  # made-up methods share one label value


def test_sse_subscribers_gauge(store_server: ServerProcess) -> None:
    with httpx.stream("GET", store_server.base_url + "/v1/events", timeout=10) as response:
        assert response.status_code == 200
        during = scrape(store_server.base_url)
        assert value(during, "assistants_sse_subscribers") >= 1


def test_counters_move_after_a_chat_completion(ops_model_server: ServerProcess) -> None:  # noqa: F811
    before = scrape(ops_model_server.base_url)
    client = openai.OpenAI(base_url=ops_model_server.base_url + "/v1", api_key="x", max_retries=0)
    completion = client.chat.completions.create(model="default", max_tokens=3,
                                                messages=[{"role": "user", "content": "Hi"}])
    after = scrape(ops_model_server.base_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert completion.usage is not None
    assert delta("assistants_prompt_tokens_total") == completion.usage.prompt_tokens
    assert delta("assistants_completion_tokens_total") == completion.usage.completion_tokens
    assert delta("assistants_time_to_first_token_seconds_count") == 1
    assert delta("assistants_engine_batch_sequences_count") >= completion.usage.completion_tokens
    assert value(after, "assistants_engine_slots") == 2
    assert delta("assistants_http_requests_total", method="POST", route="/v1/chat/completions",
                 status="200") == 1


@pytest.mark.slow
def test_run_counters_move_after_a_run(ops_model_server: ServerProcess) -> None:  # noqa: F811
    before = scrape(ops_model_server.base_url)
    client = openai.OpenAI(base_url=ops_model_server.base_url + "/v1", api_key="x", max_retries=0)
    assistant = client.beta.assistants.create(model="default", instructions="Answer briefly.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Name a colour."}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   max_completion_tokens=256, poll_interval_ms=200)
    assert run.status in {"completed", "incomplete"}
    after = scrape(ops_model_server.base_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("assistants_runs_finished_total", status=run.status) == 1
    assert delta("assistants_run_duration_seconds_count", status=run.status) == 1
    assert delta("assistants_run_queue_wait_seconds_count") == 1
    assert delta("assistants_runs", status=run.status) == 1
    assert value(after, "assistants_runs_in_progress") == 0
    assert run.usage is not None
    assert delta("assistants_completion_tokens_total") == run.usage.completion_tokens
    assert delta("assistants_prompt_tokens_total") == run.usage.prompt_tokens


def test_multiprocess_dir_sums_every_process(tmp_path_factory: pytest.TempPathFactory) -> None:
    """PROMETHEUS_MULTIPROC_DIR shared by two processes on one database: either one's /metrics counts
    both processes' requests, while the store facts are not counted twice."""
    data_dir, metrics_dir = tmp_path_factory.mktemp("mp-data"), tmp_path_factory.mktemp("mp-metrics")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    first = ServerProcess(data_dir, "--no-model", "--no-worker", env=env)
    second = ServerProcess(data_dir, "--no-model", "--no-worker", env=env)
    with first, second:
        client = openai.OpenAI(base_url=first.base_url + "/v1", api_key="test", max_retries=0)
        assistant = client.beta.assistants.create(model="default")
        client.beta.threads.create_and_run(assistant_id=assistant.id)  # stays queued: no worker anywhere
        for _ in range(3):
            client.beta.assistants.list()
        scrape(first.base_url)  # the first process also sets the store facts
        samples = scrape(second.base_url)
        listed = value(samples, "assistants_http_requests_total", method="GET", route="/v1/assistants",
                       status="200")
        assert listed == 3  # served by the other process
        assert value(samples, "assistants_runs", status="queued") == 1  # once, not once per process
        assert value(samples, "assistants_run_queue_depth") == 1
    assert any(metrics_dir.iterdir())


def test_a_worker_process_reports_its_engine_gauges_through_the_shared_dir(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """`assistants worker` has no /metrics: its engine series reach an API process's /metrics through
    PROMETHEUS_MULTIPROC_DIR (the API process itself has no model, so they are the worker's)."""
    data_dir, metrics_dir = tmp_path_factory.mktemp("mpw-data"), tmp_path_factory.mktemp("mpw-metrics")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    api = ServerProcess(data_dir, "--no-model", "--no-worker", env=env)
    worker = WorkerProcess(data_dir, "--parallel", "3", "--ctx-size", "1536", env=env)  # SmolLM2
    with api:
        worker.start(timeout=300)
        try:
            deadline = time.monotonic() + 30
            while value(scrape(api.base_url), "assistants_engine_slots") != 3:
                assert time.monotonic() < deadline, "the worker's slots never reached the shared dir"
                time.sleep(0.2)
        finally:
            worker.stop()
        # A stopped worker's gauges leave the sum (prometheus-client's `livesum`).
        assert value(scrape(api.base_url), "assistants_engine_slots") == 0
