"""Bounded, deterministic fuzzing of every documented operation against the real server process.

schemathesis generates valid and invalid requests from /schema/openapi.json and checks: no 5xx,
every response (errors included) matches its documented schema (so every error is the envelope),
content types and `Allow` as documented. Bounded: a fixed seed, few examples per operation, no
shrinking. Store routes run on a model-less server; the model routes (chat, completions, models,
props, tokenize, forget_cache) on a small real-model server, with token counts clamped so each case
decodes a few tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi import checks

from assistants import openapi
from assistants.app import create_app
from assistants.settings import Settings
from tests.integration.opsmodel import ops_model_server  # noqa: F401  (fixture)
from tests.serverproc import ServerProcess

MAX_EXAMPLES = 8
SEED = 20261122
DOCUMENT = openapi.document(create_app(Settings(data_dir=Path("/nonexistent"), load_model=False)))
MODEL_ROUTES = (r"^/(v1/)?(chat/completions|completions|models|props|responses|messages|tokenize|detokenize"
                r"|forget_cache)")
MAX_TOKENS = 3

_config = schemathesis.Config.from_dict({"seed": SEED, "generation": {"mode": "all"}})
# Event streams never end on their own on a model-less server (they have their own tests);
# /metrics is text, not an API object.
_all = schemathesis.openapi.from_dict(DOCUMENT, config=_config).exclude(path_regex=r"/events$").exclude(
    path="/metrics")
store_schema = _all.exclude(path_regex=MODEL_ROUTES)
model_schema = _all.include(path_regex=MODEL_ROUTES)

FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
# Schema-valid is not always acceptable: an unknown `after` cursor, a thread's active run or a model
# name this server does not serve is a deterministic 4xx that no schema can express.
EXCLUDED = [checks.positive_data_acceptance]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("fuzz-data"), "--no-model") as server:
        yield server


def test_served_document_is_the_one_fuzzed(fuzz_server: ServerProcess) -> None:
    assert httpx.get(fuzz_server.base_url + "/schema/openapi.json").json() == DOCUMENT


def test_the_split_covers_every_fuzzed_operation() -> None:
    model_paths = [path for path in DOCUMENT["paths"] if re.match(MODEL_ROUTES, path)]
    assert {"/v1/chat/completions", "/v1/completions", "/v1/models", "/props", "/v1/messages",
            "/v1/messages/count_tokens"} <= set(model_paths)


@store_schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_store_routes(case: schemathesis.Case, fuzz_server: ServerProcess) -> None:
    if isinstance(case.body, dict) and case.body.get("stream") is True:
        case.body["stream"] = False  # a run stream would wait for a model this server does not have
    case.call_and_validate(base_url=fuzz_server.base_url, timeout=15, excluded_checks=EXCLUDED)


@model_schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_model_routes(case: schemathesis.Case, ops_model_server: ServerProcess) -> None:  # noqa: F811
    if isinstance(case.body, dict):
        if case.path.startswith("/v1/responses") and case.body.get("background") is True:
            case.body["background"] = False  # a queued response would outlive the case
        for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            # Valid counts are clamped (a fuzzed 1000-token answer is minutes here); invalid ones
            # (negative, wrong type) are kept so their rejection is still tested.
            if type(case.body.get(field)) is int and case.body[field] > MAX_TOKENS:
                case.body[field] = MAX_TOKENS
        if case.path.startswith("/v1/responses"):
            if case.body.get("max_output_tokens") is None:
                case.body["max_output_tokens"] = MAX_TOKENS
        elif case.body.get("max_tokens") is None and case.body.get("max_completion_tokens") is None:
            case.body["max_tokens"] = MAX_TOKENS
    case.call_and_validate(base_url=ops_model_server.base_url, timeout=120, excluded_checks=EXCLUDED)


@pytest.mark.parametrize("which", ["fuzz_server", "ops_model_server"])
def test_servers_are_healthy_afterwards(which: str, request: pytest.FixtureRequest) -> None:
    server: ServerProcess = request.getfixturevalue(which)
    assert httpx.get(server.base_url + "/health").json() == {"status": "ok"}
    log = server.log_tail(10_000_000)
    assert "Traceback" not in log and "unhandled error" not in log, log[-4000:]
