"""`--engine openai` pieces without a network: the flags, the router's affinity, saturation and
failover, and `RemoteInference` decoding from a scripted upstream (a fake engine is fine here; the
integration test drives a real second server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from assistants.errors import InvalidRequest
from assistants.inference import SamplingParams
from assistants.inference.remote import EngineRouter, PromptTokens, RemoteEngine, RemoteInference
from assistants.inference.service import EngineUnavailable
from assistants.inference.upstream import RemoteModel, UpstreamDown, UpstreamRejected, root_url
from assistants.prompt import ChatTemplate
from assistants.settings import parse_cli_args


class ScriptedUpstream:
    """Streams the given pieces; `die_after` pieces in, the connection breaks."""

    def __init__(self, url: str, pieces: list[str], *, die_after: int | None = None,
                 healthy: bool = True, detokenizer: bool = True) -> None:
        self.url = url
        self.detokenizer = detokenizer
        self.pieces = pieces
        self.die_after = die_after
        self.is_healthy = healthy
        self.bodies: list[dict[str, Any]] = []
        self.closed = 0
        self.forgotten: list[str] = []

    async def stream_completion(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        self.bodies.append(body)
        try:
            for n, piece in enumerate(self.pieces):
                if self.die_after is not None and n >= self.die_after:
                    raise UpstreamDown(f"{self.url}: connection reset")
                await asyncio.sleep(0)
                yield {"choices": [{"text": piece, "finish_reason": None}]}
            yield {"choices": [{"text": "", "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 3, "completion_tokens": len(self.pieces)}}
        finally:
            self.closed += 1

    async def healthy(self) -> bool:
        return self.is_healthy

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        return [1, 2, 3]

    def detokenize(self, tokens: list[int]) -> str:
        if not self.is_healthy:
            raise UpstreamDown(f"{self.url}: connection refused")
        if not self.detokenizer:
            raise UpstreamRejected(404, "File Not Found")
        return "".join(self.pieces[t] for t in tokens)

    async def forget_cache(self, key: str) -> None:
        self.forgotten.append(key)
        if not self.detokenizer:  # an engine of another kind: none of our extension routes
            raise UpstreamRejected(404, "File Not Found")

    async def aclose(self) -> None:
        pass


def engines(*upstreams: ScriptedUpstream, concurrency: int = 2) -> list[RemoteEngine]:
    return [RemoteEngine(u, concurrency) for u in upstreams]  # type: ignore[arg-type]


MODEL = RemoteModel(model_id="m", ctx_size=512, slots=2, chat_template=None, bos_token="<bos>",
                    eos_token="<eos>", grammar=False, tokenizer=True, meta={})


async def remote(*upstreams: ScriptedUpstream, model: RemoteModel = MODEL) -> RemoteInference:
    template = ChatTemplate.choose(architecture="gemma3", model_template=None, bos_token="<bos>",
                                   eos_token="<eos>")
    return RemoteInference(EngineRouter(engines(*upstreams)), model, template, "m")


def test_flags_and_environment() -> None:
    _, settings, _ = parse_cli_args(
        ["serve", "--engine", "openai", "--engine-url", "http://a:8080/v1", "--engine-url", "http://b:8080",
         "--engine-api-key", "sk-secret-1", "--engine-concurrency", "3"], {})
    assert settings.engine_urls == ("http://a:8080/v1", "http://b:8080")
    assert settings.engine_api_keys == ("sk-secret-1",) and settings.engine_concurrency == 3
    _, from_env, _ = parse_cli_args(["worker"], {"ASSISTANTS_ENGINE": "openai",
                                                 "ASSISTANTS_ENGINE_URL": "http://a:1,http://b:2",
                                                 "ASSISTANTS_ENGINE_MODEL": "qwen"})
    assert from_env.engine == "openai" and from_env.engine_urls == ("http://a:1", "http://b:2")
    assert from_env.engine_models == ("qwen",)
    assert "sk-secret-1" not in repr(settings)
    assert root_url("http://a:8080/v1/") == "http://a:8080"


async def test_a_thread_stays_on_its_engine_until_it_is_full() -> None:
    router = EngineRouter(engines(*(ScriptedUpstream(f"http://e{n}", []) for n in range(4)), concurrency=1))
    first = await router.acquire("thread_1")
    await router.release(first, ok=True)
    again = await router.acquire("thread_1")
    assert again is first  # affinity: the same engine while it has room
    spill = await router.acquire("thread_1")
    assert spill is not first  # full (1 in flight): the next engine in the thread's order
    homes = set()
    for n in range(40):
        engine = await router.acquire(f"thread_{n}_x")
        homes.add(engine.url)
        await router.release(engine, ok=True)
    assert len(homes) >= 2  # threads spread over the engines


async def test_a_full_router_waits_for_a_slot() -> None:
    router = EngineRouter(engines(ScriptedUpstream("http://e0", []), concurrency=1))
    held = await router.acquire(None)
    waiting = asyncio.create_task(router.acquire(None))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await router.release(held, ok=True)
    assert await asyncio.wait_for(waiting, 1) is held


async def test_a_failed_engine_is_taken_out_and_probed_back() -> None:
    sick = ScriptedUpstream("http://sick", [], healthy=False)
    router = EngineRouter(engines(sick))
    engine = router.engines[0]
    await router.failed(engine, UpstreamDown("reset"))
    assert not engine.up
    with pytest.raises(EngineUnavailable) as refused:
        await router.acquire("t")
    assert refused.value.status_code == 503 and refused.value.retry_after >= 1
    sick.is_healthy = True
    engine.retry_at = 0  # skip the backoff's wait
    for _ in range(100):
        await asyncio.sleep(0.02)
        if engine.up:
            break
    assert engine.up
    await router.close()


async def test_generation_streams_then_fails_over_before_any_text() -> None:
    dead = ScriptedUpstream("http://dead", ["x"], die_after=0)
    alive = ScriptedUpstream("http://alive", ["Hel", "lo", " there"])
    inference = await remote(dead, alive)
    inference.router.engines.sort(key=lambda e: e.url != "http://dead")  # tried first without a key
    generation = await inference.generate([5, 6, 7], SamplingParams(temperature=0, max_tokens=8))
    assert await generation.text() == "Hello there"
    assert generation.result is not None and generation.result.finish_reason == "stop"
    assert generation.result.completion_tokens == 3
    assert alive.bodies[0]["prompt"] == [5, 6, 7] and "grammar" not in alive.bodies[0]
    await inference.close()


async def test_a_failure_mid_answer_is_engine_unavailable() -> None:
    inference = await remote(ScriptedUpstream("http://e", ["a", "b", "c"], die_after=2))
    generation = await inference.generate([1], SamplingParams(max_tokens=8))
    with pytest.raises(EngineUnavailable):
        await generation.text()
    await inference.close()


async def test_stop_strings_are_matched_here_and_close_the_stream() -> None:
    upstream = ScriptedUpstream("http://e", ["one ", "two ", "STOP", " three"])
    inference = await remote(upstream)
    generation = await inference.generate([1], SamplingParams(max_tokens=8, stop=("STOP",)))
    assert await generation.text() == "one two "
    assert generation.result is not None and generation.result.stop_sequence == "STOP"
    assert upstream.closed == 1 and "stop" not in upstream.bodies[0]
    await inference.close()


async def test_cancel_ends_cancelled_and_closes_the_stream() -> None:
    upstream = ScriptedUpstream("http://e", ["x"] * 500)
    inference = await remote(upstream)
    generation = await inference.generate([1], SamplingParams(max_tokens=500))
    assert await generation.__anext__() == "x"
    generation.cancel()
    rest = [piece async for piece in generation]
    assert len(rest) < 499 and generation.result is not None
    assert generation.result.finish_reason == "cancelled"
    await asyncio.sleep(0)
    assert upstream.closed == 1 and inference.active == 0
    await inference.close()


async def test_without_a_tokenizer_the_count_is_an_estimate_and_text_is_sent() -> None:
    upstream = ScriptedUpstream("http://e", ["ok"])
    estimated = RemoteModel(**{**MODEL.__dict__, "tokenizer": False})
    inference = await remote(upstream, model=estimated)
    ids = await asyncio.to_thread(inference.tokenize, "abcdefghi")
    assert isinstance(ids, PromptTokens) and not ids.exact and len(ids) == 3
    generation = await inference.generate(ids, SamplingParams(max_tokens=4))
    assert await generation.text() == "ok"
    assert upstream.bodies[0]["prompt"] == "abcdefghi"
    with pytest.raises(InvalidRequest) as refused:
        inference.require_constrained_decoding("response_format")
    assert refused.value.code == "unsupported_by_engine"
    await inference.close()


async def test_detokenize_asks_an_engine_that_is_up_and_names_a_missing_route() -> None:
    down = ScriptedUpstream("http://down", ["a", "b"], healthy=False)
    up = ScriptedUpstream("http://up", ["Hel", "lo"])
    inference = await remote(down, up)
    inference.router.engines.sort(key=lambda e: e.url != "http://down")  # asked first without a key
    assert await asyncio.to_thread(inference.detokenize, [0, 1]) == "Hello"
    assert not inference.router.engines[0].up  # the refused engine was taken out on the way
    await inference.close()
    inference = await remote(ScriptedUpstream("http://old", ["x"], detokenizer=False))
    with pytest.raises(InvalidRequest) as missing:
        await asyncio.to_thread(inference.detokenize, [0])
    assert missing.value.code == "unsupported_by_engine" and "http://old" in missing.value.message
    assert missing.value.param == "tokens"
    await inference.close()
    estimated = RemoteModel(**{**MODEL.__dict__, "tokenizer": False})
    inference = await remote(ScriptedUpstream("http://vllm", ["x"]), model=estimated)
    with pytest.raises(InvalidRequest) as no_tokenizer:
        await asyncio.to_thread(inference.detokenize, [0])
    assert no_tokenizer.value.code == "unsupported_by_engine" and "tokenize" in no_tokenizer.value.message
    await inference.close()


async def test_a_deleted_threads_cache_is_forgotten_on_every_engine_that_keeps_one() -> None:
    ours = ScriptedUpstream("http://ours", [])
    theirs = ScriptedUpstream("http://llama", [], detokenizer=False)
    down = ScriptedUpstream("http://down", [])
    inference = await remote(ours, theirs, down)
    await inference.router.failed(inference.router.engines[2], UpstreamDown("refused"))
    inference.forget_cache("thread_1")
    await asyncio.gather(*inference._forgets)
    assert ours.forgotten == ["thread_1"] and theirs.forgotten == ["thread_1"] and down.forgotten == []
    inference.forget_cache("thread_2")  # the engine that answered 404 is not asked again
    await asyncio.gather(*inference._forgets)
    assert ours.forgotten == ["thread_1", "thread_2"] and theirs.forgotten == ["thread_1"]
    await inference.close()
