"""The batcher: the single owner of the engine, stepping every live request together on its own thread.

Requests come from the event loop (`submit`), wait in a FIFO queue while all `max_sequences` slots are
busy, join the running batch at the next step and leave it the moment they finish or are cancelled.
Text goes back to the loop with `loop.call_soon_threadsafe` once per step; the loop never blocks on the
engine and the engine thread sleeps on a condition when there is nothing to do.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from assistants import metrics
from assistants.inference.engine import Engine, FinishReason, SamplingParams
from assistants.inference.text import StopMatcher, TokenTextDecoder

log = logging.getLogger("assistants.inference.batcher")


@dataclass(frozen=True)
class GenerationResult:
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    prompt_ms: float = 0.0
    """From joining the batch to the first sampled token (prompt evaluation, llama-server's sense)."""
    predicted_ms: float = 0.0
    """From the first sampled token to the end."""
    stop_sequence: str | None = None
    """The stop string that ended it (finish_reason `stop`), None for an end-of-generation token."""
    cached_tokens: int = 0
    """Prompt tokens whose KV came from a cached prefix (not evaluated again)."""


@dataclass(frozen=True)
class _Done:
    result: GenerationResult


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class Generation:
    """One request's output: `async for piece in generation` yields text pieces, then `.result`.

    Leaving early (`cancel()`, `aclose()`, or `async with` exiting) stops its decoding within one step.
    An engine failure is raised from the iteration, never left as a hung stream.
    """

    def __init__(self, on_cancel: Callable[[], None]) -> None:
        self._on_cancel = on_cancel
        """Asks whoever decodes it to stop (the batcher's engine thread, or a remote stream's task)."""
        self._queue: asyncio.Queue[str | _Done | _Failed] = asyncio.Queue()
        self.result: GenerationResult | None = None
        self._error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None or self._error is not None

    @property
    def pending(self) -> int:
        """Items (text, the end) handed over and not read yet: a reader may take them without waiting."""
        return self._queue.qsize()

    def __aiter__(self) -> Generation:
        return self

    async def __anext__(self) -> str:
        if self.result is not None:
            raise StopAsyncIteration
        if self._error is not None:
            raise self._error
        item = await self._queue.get()
        if isinstance(item, str):
            return item
        if isinstance(item, _Done):
            self.result = item.result
            raise StopAsyncIteration
        self._error = item.error
        raise item.error

    async def text(self) -> str:
        """Drain the generation into one string (then `.result` is set)."""
        return "".join([piece async for piece in self])

    def cancel(self) -> None:
        """Ask the decoder to drop this request; the iteration then ends with `cancelled`."""
        if not self.finished:
            self._on_cancel()

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> Generation:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()

    def put_text(self, piece: str) -> None:
        self._queue.put_nowait(piece)

    def put_result(self, result: GenerationResult) -> None:
        self._queue.put_nowait(_Done(result))

    def put_error(self, error: BaseException) -> None:
        self._queue.put_nowait(_Failed(error))

    def _put(self, item: str | _Done | _Failed) -> None:
        self._queue.put_nowait(item)


class _Job:
    """Engine-thread state of one request."""

    __slots__ = (
        "admitted_at",
        "cache_key",
        "cached_tokens",
        "completion_tokens",
        "decoder",
        "done",
        "first_token_at",
        "generation",
        "loop",
        "matcher",
        "max_tokens",
        "params",
        "prompt",
        "seq_id",
        "submitted_at",
    )

    def __init__(
        self, prompt: Sequence[int], params: SamplingParams, max_tokens: int, loop: asyncio.AbstractEventLoop,
        cache_key: str | None = None,
    ) -> None:
        self.prompt = list(prompt)
        self.cache_key = cache_key
        self.cached_tokens = 0
        self.params = params
        self.max_tokens = max_tokens
        self.loop = loop
        self.generation: weakref.ref[Generation] | None = None
        """Weak: a Generation nobody holds any more is cancelled at the next step (see `_deliver`)."""
        self.seq_id: int | None = None
        self.completion_tokens = 0
        self.decoder = TokenTextDecoder()
        self.matcher = StopMatcher(params.stop)
        self.done = False
        self.submitted_at = time.perf_counter()
        self.admitted_at: float | None = None
        self.first_token_at: float | None = None


class Batcher:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cond = threading.Condition()
        self._waiting: deque[_Job] = deque()
        self._cancels: list[_Job] = []
        self._calls: list[Callable[[], None]] = []
        self._active: dict[int, _Job] = {}
        self._free_ids = list(range(engine.limits.max_sequences - 1, -1, -1))
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="assistants-engine", daemon=True)
        self._thread.start()

    # -- event-loop side ------------------------------------------------------------------------

    def submit(self, prompt: Sequence[int], params: SamplingParams, max_tokens: int,
               cache_key: str | None = None) -> Generation:
        """Queue a tokenized prompt (must be called on the running loop); never blocks on the engine.
        `cache_key` (a thread id) lets the engine prefer and persist that thread's cached prefix."""
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        job = _Job(prompt, params, max_tokens, asyncio.get_running_loop(), cache_key)
        generation = Generation(functools.partial(self.cancel, job))
        job.generation = weakref.ref(generation)
        with self._cond:
            if self._stopping:
                raise RuntimeError("the batcher is closed")
            self._waiting.append(job)
            self._cond.notify()
        return generation

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the engine thread before its next step (engine state is that thread's alone)."""
        with self._cond:
            self._calls.append(fn)
            self._cond.notify()

    def cancel(self, job: _Job) -> None:
        with self._cond:
            self._cancels.append(job)
            self._cond.notify()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread after its current step; unfinished requests end with an error."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    # -- engine thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:
            log.exception("the engine thread stopped unexpectedly")
        finally:
            self._shutdown()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._stopping or self._waiting or self._cancels or self._active or self._calls):
                    self._cond.wait()
                if self._stopping:
                    break
                cancels, self._cancels = self._cancels, []
                calls, self._calls = self._calls, []
                admitted: list[_Job] = []
                if self._waiting and self._free_ids:
                    # The engine admits by free KV cells as well as by free sequence slots.
                    candidates = list(islice(self._waiting, len(self._free_ids)))
                    fits = self.engine.admissible([(len(j.prompt), j.max_tokens) for j in candidates])
                    for _ in range(fits):
                        job = self._waiting.popleft()
                        job.seq_id = self._free_ids.pop()
                        admitted.append(job)
            outbox: dict[_Job, list[str | _Done | _Failed]] = {}
            for job in cancels:
                self._finish(job, "cancelled", outbox)
            for fn in calls:
                try:
                    fn()
                except Exception:
                    log.exception("engine-thread call failed")
            for job in admitted:
                if job.done:
                    self._release(job)
                    continue
                try:
                    job.cached_tokens = self.engine.add_sequence(
                        job.seq_id, job.prompt, job.params, job.cache_key) or 0  # type: ignore[arg-type]
                except Exception as exc:  # one bad request must not stop the others
                    self._release(job)
                    self._fail(job, exc, outbox)
                    continue
                self._active[job.seq_id] = job  # type: ignore[index]
                job.admitted_at = time.perf_counter()
            if self._active:
                self._step(outbox)
            self._deliver(outbox)

    def _step(self, outbox: dict[_Job, list[str | _Done | _Failed]]) -> None:
        metrics.observe_batch_step(len(self._active))
        try:
            sampled = self.engine.step()
        except Exception as exc:
            log.exception("engine step failed")
            for failed in list(self._active.values()):
                self._remove(failed)
                self._fail(failed, exc, outbox)
            return
        for seq_id, token in sampled:
            job = self._active.get(seq_id)
            if job is None or job.done:
                continue
            if job.first_token_at is None:
                job.first_token_at = time.perf_counter()
                metrics.observe_ttft(job.first_token_at - job.submitted_at)
            if self.engine.is_end_of_generation(token):
                self._finish(job, "stop", outbox)
                continue
            job.completion_tokens += 1
            text = job.matcher.feed(job.decoder.feed(self.engine.token_bytes(token)))
            if text:
                outbox.setdefault(job, []).append(text)
            if job.matcher.stopped:
                self._finish(job, "stop", outbox)
            elif job.completion_tokens >= job.max_tokens:
                self._finish(job, "length", outbox)

    def _finish(
        self, job: _Job, reason: FinishReason, outbox: dict[_Job, list[str | _Done | _Failed]]
    ) -> None:
        if job.done:
            return
        if reason != "cancelled":
            tail = job.matcher.feed(job.decoder.flush()) + job.matcher.flush()
            if tail:
                outbox.setdefault(job, []).append(tail)
        self._remove(job)
        job.done = True
        result = GenerationResult(reason, len(job.prompt), job.completion_tokens, *_timings(job),
                                  stop_sequence=job.matcher.matched, cached_tokens=job.cached_tokens)
        metrics.observe_tokens(result.prompt_tokens, result.completion_tokens)
        metrics.observe_kv_reused(job.cached_tokens)
        outbox.setdefault(job, []).append(_Done(result))

    def _fail(self, job: _Job, exc: BaseException, outbox: dict[_Job, list[str | _Done | _Failed]]) -> None:
        job.done = True
        outbox.setdefault(job, []).append(_Failed(exc))

    def _remove(self, job: _Job) -> None:
        """Take the job out of the batch (or the queue) and free its engine memory now."""
        if job.seq_id is not None and self._active.get(job.seq_id) is job:
            del self._active[job.seq_id]
            try:
                self.engine.remove_sequence(job.seq_id)
            except Exception:
                log.exception("could not free sequence %s", job.seq_id)
            self._release(job)
        elif job.seq_id is None:
            with self._cond:
                if job in self._waiting:
                    self._waiting.remove(job)

    def _release(self, job: _Job) -> None:
        if job.seq_id is not None:
            self._free_ids.append(job.seq_id)
            job.seq_id = None

    def _deliver(self, outbox: dict[_Job, list[str | _Done | _Failed]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Generation, list[Any]]]] = {}
        jobs_of: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job, items in outbox.items():
            generation = job.generation() if job.generation is not None else None
            if generation is None:
                self._drop(job)  # dropped without cancel(): nobody will ever read this output
            else:
                by_loop.setdefault(job.loop, []).append((generation, items))
                jobs_of.setdefault(job.loop, []).append(job)
        for loop, batch in by_loop.items():
            try:
                loop.call_soon_threadsafe(_hand_over, batch)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                for job in jobs_of[loop]:
                    self._drop(job)

    def _drop(self, job: _Job) -> None:
        if not job.done:
            self._remove(job)
            job.done = True

    def _shutdown(self) -> None:
        outbox: dict[_Job, list[str | _Done | _Failed]] = {}
        error = RuntimeError("the inference engine stopped")
        with self._cond:
            self._stopping = True
            pending = list(self._waiting) + list(self._active.values())
            self._waiting.clear()
        for job in pending:
            self._remove(job)
            if not job.done:
                self._fail(job, error, outbox)
        self._deliver(outbox)


def _timings(job: _Job) -> tuple[float, float]:
    """(prompt_ms, predicted_ms) of a finished job; zeros where it never got that far."""
    end = time.perf_counter()
    start, first = job.admitted_at, job.first_token_at
    if start is None:
        return 0.0, 0.0
    if first is None:
        return (end - start) * 1000, 0.0
    return (first - start) * 1000, (end - first) * 1000


def _hand_over(batch: list[tuple[Generation, list[Any]]]) -> None:
    for generation, items in batch:
        for item in items:
            generation._put(item)
