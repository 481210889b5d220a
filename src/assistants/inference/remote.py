"""`RemoteInference`: the `Inference` surface over remote OpenAI-compatible engines (`--engine openai`).

We render the prompt (our chat template, tools block, truncation) and decode it through the engine's
streamed `/v1/completions`, so holdback, tool parsing and truncation are the same code as in-process;
only the sampling moves. Why completions and not chat completions: a chat endpoint would re-render the
conversation with the engine's own template and tool format, and our tool-call grammar, holdback and
token counting would no longer describe what is decoded.

Tokens: where the engine has llama-server's `POST /tokenize` (llama-server, `assistants`), prompts are
counted with its tokenizer and sent as those token ids (what was counted is what is decoded). Where it
has none (vLLM, OpenAI), the count is an estimate, `ESTIMATED_BYTES_PER_TOKEN` bytes of UTF-8 per
token (an over-count for English text, so truncation errs towards fitting), and the prompt goes as
text. Grammars (structured outputs, forced tool calls) go as llama-server's `grammar` field to
engines that take it (those with `/props`); others refuse such requests with a 400.

Several engines (`--engine-url` repeated) are replicas of one model. `EngineRouter` sends a thread's
requests to the same engine (rendezvous hashing on the thread id, so its prefix cache stays warm),
unless that engine is full (`--engine-concurrency` requests in flight) or down; then the next in the
thread's order with room. An engine that fails is taken out and probed (`GET /health`) with
exponential backoff; a request that had not produced text yet is retried on another engine at once,
one that had raises `EngineUnavailable` (a run is then re-queued, see runs.executor).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assistants import metrics
from assistants.errors import InvalidRequest, StartupError
from assistants.inference.batcher import Generation, GenerationResult
from assistants.inference.engine import FinishReason, ModelInfo, SamplingParams
from assistants.inference.service import EngineUnavailable, Inference, check_fits, check_token_ids, with_min_p
from assistants.inference.text import StopMatcher
from assistants.inference.upstream import RemoteModel, Upstream, UpstreamDown, UpstreamRejected
from assistants.prompt import ChatTemplate, TemplateError
from assistants.settings import Settings

log = logging.getLogger("assistants.inference.remote")
_T = TypeVar("_T")

ESTIMATED_BYTES_PER_TOKEN = 3
"""Token estimate for engines without /tokenize: English runs ~4 bytes a token on common
vocabularies, code and other scripts fewer; 3 over-counts, so a truncated prompt still fits."""

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
"""Seconds before a failed engine is probed again, doubling per failed probe, capped."""


class PromptTokens(list[int]):
    """Token ids plus the text they count. From an engine without a tokenizer the ids are only an
    estimate of the count (`exact` False), and the text is what is sent."""

    def __init__(self, ids: Sequence[int], text: str, *, exact: bool) -> None:
        super().__init__(ids)
        self.text = text
        self.exact = exact


@dataclass(eq=False)
class RemoteEngine:
    """One engine as the router sees it. All fields are touched on the event loop only."""

    upstream: Upstream
    concurrency: int
    in_flight: int = 0
    up: bool = True
    failures: int = 0
    """Consecutive failures (failed requests and probes); a completed request resets it."""
    retry_at: float = 0.0
    last_error: str | None = None
    served: int = 0
    forgets: bool = True
    """It has `POST /forget_cache` (an `assistants` engine), until a 404 says otherwise."""
    _probe: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.upstream.url

    @property
    def room(self) -> bool:
        return self.up and self.in_flight < self.concurrency


class EngineRouter:
    """Which engine decodes a request: thread affinity, a per-engine in-flight cap, failover."""

    def __init__(self, engines: list[RemoteEngine]) -> None:
        self.engines = engines
        self._changed = asyncio.Condition()
        self._closed = False

    def order(self, key: str | None) -> list[RemoteEngine]:
        """Engines in the order `key` prefers them (rendezvous hashing: adding or losing an engine
        moves only the threads that were on it); without a key, the least loaded first."""
        if key is None:
            return sorted(self.engines, key=lambda e: e.in_flight / e.concurrency)
        return sorted(self.engines, key=lambda e: hashlib.blake2b(f"{key}|{e.url}".encode(), digest_size=8)
                      .digest(), reverse=True)

    def any_up(self) -> RemoteEngine | None:
        return next((e for e in self.engines if e.up), None)

    async def acquire(self, key: str | None, avoid: set[str] | None = None) -> RemoteEngine:
        """An engine with room (waiting while every engine that is up is full); `EngineUnavailable`
        when none is up (or only ones in `avoid`, which just failed this request)."""
        avoid = avoid or set()
        async with self._changed:
            while True:
                candidates = [e for e in self.order(key) if e.up and e.url not in avoid]
                if not candidates or self._closed:
                    raise self.unavailable()
                chosen = next((e for e in candidates if e.room), None)
                if chosen is not None:
                    chosen.in_flight += 1
                    return chosen
                await self._changed.wait()

    async def release(self, engine: RemoteEngine, *, ok: bool) -> None:
        engine.in_flight -= 1
        if ok:
            engine.failures = 0
            engine.served += 1
        async with self._changed:
            self._changed.notify_all()

    async def failed(self, engine: RemoteEngine, error: Exception) -> None:
        """Take the engine out and probe it with backoff until it answers again."""
        engine.last_error = str(error)
        if engine.up:
            log.warning("remote engine %s is down (%s); retrying it with backoff", engine.url, error)
            engine.up = False
            engine.failures += 1
            engine.retry_at = time.monotonic() + _backoff(engine.failures)
            if engine._probe is None or engine._probe.done():
                engine._probe = asyncio.create_task(self._probe_until_up(engine), name=f"probe-{engine.url}")
        async with self._changed:
            self._changed.notify_all()

    async def _probe_until_up(self, engine: RemoteEngine) -> None:
        while not self._closed:
            await asyncio.sleep(max(0.0, engine.retry_at - time.monotonic()))
            if await engine.upstream.healthy():
                log.warning("remote engine %s is back", engine.url)
                engine.up = True
                async with self._changed:
                    self._changed.notify_all()
                return
            engine.failures += 1
            engine.retry_at = time.monotonic() + _backoff(engine.failures)

    def unavailable(self) -> EngineUnavailable:
        soonest = min((e.retry_at for e in self.engines), default=0.0) - time.monotonic()
        errors = "; ".join(f"{e.url}: {e.last_error}" for e in self.engines if e.last_error)
        return EngineUnavailable(f"No inference engine is reachable ({errors or 'all down'}).",
                                 retry_after=max(1.0, soonest))

    async def close(self) -> None:
        self._closed = True
        for engine in self.engines:
            if engine._probe is not None:
                engine._probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await engine._probe
        async with self._changed:
            self._changed.notify_all()


def _backoff(failures: int) -> float:
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, failures - 1)))


class RemoteInference(Inference):
    """`Inference` for `--engine openai`: same public surface, decoded by remote engines."""

    def __init__(self, router: EngineRouter, model: RemoteModel, template: ChatTemplate,
                 model_id: str, *, max_output_tokens: int = 0, min_p: float = 0.0) -> None:
        # Not Inference.__init__: there is no local engine or batcher here, only the router.
        self.router = router
        self.model = model
        self.template = template
        self.model_id = model_id
        self.max_output_tokens = max_output_tokens
        self.min_p = min_p
        self.created = int(time.time())
        self._tasks: set[asyncio.Task[None]] = set()
        self._forgets: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    @classmethod
    async def start(cls, settings: Settings) -> RemoteInference:
        urls = settings.engine_urls
        if not urls:
            raise StartupError("--engine openai needs --engine-url URL (the remote engine's address)")
        keys, models = _per_engine(settings.engine_api_keys, urls, "--engine-api-key"), \
            _per_engine(settings.engine_models, urls, "--engine-model")
        upstreams = [Upstream(url, api_key=key, model=model)
                     for url, key, model in zip(urls, keys, models, strict=True)]
        described: RemoteModel | None = None
        down: list[tuple[Upstream, Exception]] = []
        for upstream in upstreams:
            try:
                described = described or await upstream.describe()
                if described and not await upstream.healthy():
                    raise UpstreamDown("GET /health did not answer 200")
            except (UpstreamDown, UpstreamRejected) as error:
                down.append((upstream, error))
        if described is None:
            for upstream in upstreams:
                await upstream.aclose()
            raise StartupError("no remote engine answered: " + "; ".join(f"{u.url}: {e}" for u, e in down))
        for upstream in upstreams:
            upstream.model = upstream.model or described.model_id
        concurrency = settings.engine_concurrency or described.slots or settings.parallel
        router = EngineRouter([RemoteEngine(u, concurrency) for u in upstreams])
        for upstream, problem in down:
            await router.failed(next(e for e in router.engines if e.upstream is upstream), problem)
        try:
            template = ChatTemplate.choose(architecture="", model_template=described.chat_template,
                                           bos_token=described.bos_token, eos_token=described.eos_token,
                                           override=settings.chat_template)
        except (OSError, TemplateError) as exc:
            await router.close()
            raise StartupError(f"chat template: {exc}") from exc
        if described.chat_template is None and settings.chat_template is None:
            log.warning("the remote engine does not tell its chat template (no /props): using %s; "
                        "pass --chat-template to use the model's", template.origin)
        model_id = settings.model_alias or described.model_id
        log.info("serving %s through %d remote engine(s) %s as %r: %d requests in flight each, %d tokens "
                 "per request, tokenizer %s, grammars %s", described.model_id, len(upstreams),
                 ", ".join(urls), model_id, concurrency, described.ctx_size,
                 "remote" if described.tokenizer else "estimated", "yes" if described.grammar else "no")
        return cls(router, described, template, model_id, max_output_tokens=settings.max_output_tokens,
                   min_p=settings.min_p)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks or self._forgets:
            await asyncio.wait(self._tasks | self._forgets, timeout=5)
        await self.router.close()
        for engine in self.router.engines:
            await engine.upstream.aclose()

    # -- what callers read ---------------------------------------------------------------------

    @property
    def ctx_size(self) -> int:
        return self.model.ctx_size

    @property
    def info(self) -> ModelInfo:
        meta = self.model.meta
        return ModelInfo(path=self.model.model_id, architecture="remote",
                         chat_template=self.model.chat_template, bos_token=self.model.bos_token,
                         eos_token=self.model.eos_token, add_bos=True,
                         n_ctx_train=meta.get("n_ctx_train", self.ctx_size), n_vocab=meta.get("n_vocab", 0),
                         n_embd=meta.get("n_embd", 0), n_params=meta.get("n_params", 0),
                         size=meta.get("size", 0))

    @property
    def slots(self) -> int:
        return sum(e.concurrency for e in self.router.engines if e.up)

    @property
    def active(self) -> int:
        return sum(e.in_flight for e in self.router.engines)

    @property
    def queued(self) -> int:
        return max(0, len(self._tasks) - self.active)

    @property
    def busy(self) -> int:
        """Requests streaming or waiting for an engine (a models registry never unloads it then)."""
        return len(self._tasks)

    def forget_cache(self, key: str) -> None:
        """A deleted thread: every engine that is up drops the KV it keeps under the thread's key
        (an `assistants` engine keeps it in memory and on disk; others have no such route, a 404).
        Returns at once; a failure only leaves the engine's copy to age out under its budget."""
        for engine in self.router.engines:
            if engine.up and engine.forgets:
                task = asyncio.create_task(self._forget_on(engine, key), name=f"forget-cache-{engine.url}")
                self._forgets.add(task)
                task.add_done_callback(self._forgets.discard)

    async def _forget_on(self, engine: RemoteEngine, key: str) -> None:
        try:
            await engine.upstream.forget_cache(key)
        except UpstreamRejected as exc:
            if exc.status in {404, 405}:
                engine.forgets = False  # llama-server, vLLM: their caches are not keyed by thread
            else:
                log.warning("remote engine %s refused to forget a cache: %s", engine.url, exc)
        except UpstreamDown as exc:
            log.warning("remote engine %s could not forget a cache: %s", engine.url, exc)

    def require_constrained_decoding(self, param: str) -> None:
        if not self.model.grammar:
            raise InvalidRequest(
                f"`{param}` needs constrained decoding (json_object / json_schema outputs, forced tool "
                f"calls), which the remote engine does not take (no llama-server `grammar` field).",
                param=param, code="unsupported_by_engine")

    # -- tokens --------------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool | None = None,
                 parse_special: bool = True) -> list[int]:
        """The remote tokenizer's ids (blocking HTTP: call it off the event loop), or an estimate."""
        if add_special is None:
            bos = self.model.bos_token
            add_special = not (bos and text.startswith(bos))
        if not self.model.tokenizer:
            count = max(1, math.ceil(len(text.encode("utf-8")) / ESTIMATED_BYTES_PER_TOKEN))
            return PromptTokens([0] * count, text, exact=False)
        ids = self._on_an_engine(
            lambda upstream: upstream.tokenize(text, add_special=add_special, parse_special=parse_special),
            "tokenize", "prompt")
        return PromptTokens(ids, text, exact=True)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The remote tokenizer's text for `tokens` (its `POST /detokenize`; blocking HTTP)."""
        check_token_ids(tokens, self.model.meta.get("n_vocab", 0), "tokens")
        if not self.model.tokenizer:
            raise InvalidRequest(
                "detokenize needs the remote engine's tokenizer, and the engine did not answer "
                "llama-server's `POST /tokenize` at start-up (its prompts are counted by estimate).",
                param="tokens", code="unsupported_by_engine")
        return self._on_an_engine(lambda upstream: upstream.detokenize(tokens), "detokenize", "tokens")

    def _on_an_engine(self, call: Callable[[Upstream], _T], what: str, param: str) -> _T:
        """`call` on the least loaded engine that is up, the next one when it is down."""
        for engine in self.router.order(None):
            if not engine.up:
                continue
            try:
                return call(engine.upstream)
            except UpstreamDown as exc:
                self._failed_from_thread(engine, exc)
            except UpstreamRejected as exc:
                if exc.status in {404, 405, 501}:  # the route is missing, not the request wrong
                    raise InvalidRequest(
                        f"The inference engine at {engine.url} has no `POST /{what}` ({exc.status}).",
                        param=param, code="unsupported_by_engine") from exc
                raise InvalidRequest(f"The engine refused to {what}: {exc}", param=param) from exc
        raise self.router.unavailable()

    def _failed_from_thread(self, engine: RemoteEngine, error: Exception) -> None:
        # The router lives on the event loop; tokenize runs in a worker thread (prompt truncation).
        if threading.get_ident() == self._loop_thread:
            engine.last_error = str(error)  # cannot wait for the loop from the loop itself
            return
        future = asyncio.run_coroutine_threadsafe(self.router.failed(engine, error), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=5)

    # -- decoding ------------------------------------------------------------------------------

    async def generate(self, prompt: str | list[int], params: SamplingParams,
                       cache_key: str | None = None) -> Generation:
        tokens = await asyncio.to_thread(self.tokenize, prompt) if isinstance(prompt, str) else prompt
        if isinstance(tokens, PromptTokens) and not tokens.exact:
            sent: str | list[int] = tokens.text
        else:
            check_token_ids(tokens, self.model.meta.get("n_vocab", 0), "prompt")
            sent = list(tokens)
        max_tokens = check_fits(self.ctx_size, len(tokens), params, self.model.meta.get("n_vocab", 0),
                                default_max=self.max_output_tokens)
        body = _completion_body(sent, with_min_p(params, self.min_p), max_tokens, cache_key,
                                grammar=self.model.grammar)
        task: asyncio.Task[None] | None = None

        def cancel() -> None:  # cancelling the task closes the upstream stream
            if task is not None:
                task.cancel()

        generation = Generation(cancel)
        task = asyncio.create_task(self._decode(generation, body, len(tokens), params, max_tokens, cache_key),
                                   name="remote-generation")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return generation

    async def _decode(self, generation: Generation, body: dict[str, Any], prompt_tokens: int,
                      params: SamplingParams, max_tokens: int, cache_key: str | None) -> None:
        """Stream from an engine into `generation`; fail over while no text has been handed out."""
        started = time.perf_counter()
        tried: set[str] = set()
        state = _StreamState(StopMatcher(params.stop))
        try:
            while True:
                try:
                    engine = await self.router.acquire(cache_key, tried)
                except EngineUnavailable as exc:
                    generation.put_error(exc)
                    return
                ok = False
                try:
                    await self._stream_from(engine, body, generation, state, started)
                    ok = True
                    break
                except UpstreamDown as exc:
                    await self.router.failed(engine, exc)
                    tried.add(engine.url)
                    if state.emitted:
                        generation.put_error(EngineUnavailable(
                            f"The inference engine at {engine.url} failed mid-answer ({exc}).",
                            retry_after=_backoff(engine.failures)))
                        return
                finally:
                    await self.router.release(engine, ok=ok)
        except UpstreamRejected as exc:
            generation.put_error(InvalidRequest(f"The inference engine refused the request: {exc}"))
            return
        except asyncio.CancelledError:
            generation.put_result(state.result("cancelled", prompt_tokens, started))
            return
        except Exception as exc:  # a bug must end the stream, never hang it
            log.exception("remote generation failed")
            generation.put_error(exc)
            return
        rest = state.matcher.flush()
        if rest:
            state.emit(generation, rest)
        reason: FinishReason = "stop" if state.matcher.stopped or state.finish != "length" else "length"
        if not state.matcher.stopped and state.completion_tokens >= max_tokens:
            reason = "length"
        result = state.result(reason, prompt_tokens, started)
        metrics.observe_tokens(result.prompt_tokens, result.completion_tokens)
        generation.put_result(result)

    async def _stream_from(self, engine: RemoteEngine, body: dict[str, Any], generation: Generation,
                           state: _StreamState, started: float) -> None:
        chunks = engine.upstream.stream_completion(body)
        try:
            async for chunk in chunks:
                state.read_usage(chunk)
                for choice in chunk.get("choices") or []:
                    text = choice.get("text") or ""
                    if text:
                        state.count_piece(started)
                        safe = state.matcher.feed(text)
                        if safe:
                            state.emit(generation, safe)
                    if choice.get("finish_reason"):
                        state.finish = choice["finish_reason"]
                if state.matcher.stopped:
                    return  # closing the stream (below) stops the engine's decoding
        finally:
            await chunks.aclose()

    def debug_state(self) -> dict[str, Any]:
        return {
            "engines": [{"url": e.url, "up": e.up, "in_flight": e.in_flight, "concurrency": e.concurrency,
                         "failures": e.failures, "served": e.served, "last_error": e.last_error}
                        for e in self.router.engines],
            "active": self.active,
            "queued": self.queued,
        }


@dataclass
class _StreamState:
    """What one request has produced so far, across a failover."""

    matcher: StopMatcher
    emitted: bool = False
    pieces: int = 0
    usage: dict[str, Any] | None = None
    cache_n: int = 0
    finish: str | None = None
    first_at: float | None = None

    def count_piece(self, started: float) -> None:
        self.pieces += 1
        if self.first_at is None:
            self.first_at = time.perf_counter()
            metrics.observe_ttft(self.first_at - started)

    def emit(self, generation: Generation, text: str) -> None:
        self.emitted = True
        generation.put_text(text)

    def read_usage(self, chunk: dict[str, Any]) -> None:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        timings = chunk.get("timings")
        if isinstance(timings, dict) and timings.get("cache_n"):
            self.cache_n = int(timings["cache_n"])  # llama-server's reused prompt tokens

    @property
    def completion_tokens(self) -> int:
        if self.usage and self.usage.get("completion_tokens") is not None:
            return int(self.usage["completion_tokens"])
        return self.pieces  # engines stream one token per chunk

    def result(self, reason: FinishReason, prompt_tokens: int, started: float) -> GenerationResult:
        end = time.perf_counter()
        first = self.first_at or end
        details = (self.usage or {}).get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or self.cache_n)
        prompt_tokens = int((self.usage or {}).get("prompt_tokens") or prompt_tokens)  # exact when estimated
        return GenerationResult(finish_reason=reason, prompt_tokens=prompt_tokens,
                                completion_tokens=self.completion_tokens, prompt_ms=(first - started) * 1000,
                                predicted_ms=(end - first) * 1000,
                                stop_sequence=self.matcher.matched if self.matcher.stopped else None,
                                cached_tokens=min(cached, prompt_tokens))


def _completion_body(prompt: str | list[int], params: SamplingParams, max_tokens: int,
                     cache_key: str | None, *, grammar: bool) -> dict[str, Any]:
    """The `/v1/completions` request. Stop strings are matched here (StopMatcher), not sent: the
    answer then says which one matched, and the stream is closed at once when one does."""
    body: dict[str, Any] = {"prompt": prompt, "max_tokens": max_tokens, "temperature": params.temperature,
                            "top_p": params.top_p}
    if params.top_k:
        body["top_k"] = params.top_k
    body["min_p"] = params.min_p or 0.0  # ours, not the engine's own default (llama-server's is 0.05)
    if params.seed is not None:
        body["seed"] = params.seed
    if params.logit_bias:
        body["logit_bias"] = {str(token): bias for token, bias in params.logit_bias}
    if params.grammar is not None and grammar:
        body["grammar"] = params.grammar
    if cache_key is not None:
        body["prompt_cache_key"] = cache_key  # `assistants` keeps the thread's KV under it
    return body


def _per_engine(values: tuple[str, ...], urls: tuple[str, ...], flag: str) -> list[str | None]:
    """One value for every engine, or one per engine in the order of the URLs."""
    if not values:
        return [None] * len(urls)
    if len(values) == 1:
        return [values[0]] * len(urls)
    if len(values) != len(urls):
        raise StartupError(f"{flag}: give it once (all engines) or once per --engine-url ({len(urls)})")
    return list(values)
