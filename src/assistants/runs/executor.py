"""One run, end to end: prompt -> generation -> message, step, usage and terminal status.

The run arrives claimed (status in_progress). Writes:
1. when decoding starts, one transaction creates the assistant message (in_progress, content []) and its
   message_creation step (in_progress), with step.created / step.in_progress / message.created /
   message.in_progress;
2. every decoded piece is one `thread.message.delta`, buffered by the event bus; the message's partial
   text is staged so it commits together with those deltas (no write per token);
3. at the end ONE transaction writes the message text and status, the step (status + usage), the run's
   usage and terminal status, and their events.

Cancel: `CancelFlag.set()` (called by the cancel route before it answers) stops appending at once: a
piece that arrives after it is dropped, so the final text is exactly what the deltas sent before the
cancel returned. The engine drops the sequence within one step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from assistants import protocol as p
from assistants import store
from assistants.errors import InvalidRequest, ModelUnavailable, NotFound
from assistants.events import EventBus
from assistants.inference.engine import SamplingParams
from assistants.inference.service import MAX_ENGINE_ATTEMPTS, EngineUnavailable
from assistants.jobs.cancel import CancelFlag
from assistants.protocol import run_status
from assistants.protocol.common import PromptTokensDetails
from assistants.protocol.events import MessageDelta
from assistants.protocol.events import RunEventName as E
from assistants.protocol.runs import Run
from assistants.runs import tools as run_tools
from assistants.runs.prompt import Inference, Prompt, PromptDoesNotFit, build_prompt
from assistants.serving.chat import finish_reason
from assistants.serving.sampling import to_sampling_params
from assistants.store import run_moves
from assistants.store.ids import now
from assistants.store.leases import new_worker_id
from assistants.tools.holdback import CallHoldBack
from assistants.tools.plan import TurnPlan, plan_turn

if TYPE_CHECKING:
    from assistants.file_search import FileSearchResult
    from assistants.retrieval.service import Retrieval

log = logging.getLogger("assistants.runs.executor")

StartGeneration = Callable[[Any, "Prompt", SamplingParams], Awaitable[Any]]
"""(model, prompt, sampling params) -> a Generation (async iterator of text, `.result`,
`.cancel()`) on the run's model. The worker decodes the prompt's token ids on it."""


class ModelSource(Protocol):
    """Where a run's model comes from (`inference.models.Models`): leased for the whole run."""

    def use(self, model_id: str | None) -> AbstractAsyncContextManager[Inference]: ...


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> p.Usage:
    return p.Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   total_tokens=prompt_tokens + completion_tokens,
                   prompt_tokens_details=PromptTokensDetails(cached_tokens=cached_tokens))


class Executor:
    def __init__(self, bus: EventBus, models: ModelSource, start_generation: StartGeneration,
                 max_tool_rounds: int = 10, *, worker_id: str | None = None,
                 crash_on_metadata: str | None = None, retrieval: Retrieval | None = None) -> None:
        self.bus = bus
        self.max_tool_rounds = max_tool_rounds
        self.models = models
        self.start_generation = start_generation
        self.worker_id = worker_id or new_worker_id()
        """Every write on a claimed run is guarded by it: a run taken from us is never written."""
        self._crash_on = tuple(crash_on_metadata.split("=", 1)) if crash_on_metadata else None
        """Test-only (`--debug-crash-on-metadata KEY=VALUE`): the process dies decoding such a run."""
        self.retrieval = retrieval
        self._sources: dict[str, list[FileSearchResult]] = {}
        """Per running run: the file_search results its answer may cite."""

    async def execute(self, run: Run, cancel: CancelFlag) -> str:
        """Run to a terminal status and return it. Raises CancelledError on shutdown (run left
        in_progress for the worker to rewind)."""
        try:
            return await self._execute(run, cancel)
        except asyncio.CancelledError:
            raise
        except run_status.IllegalTransition as exc:
            log.warning("run %s changed under us (%s); leaving it", run.id, exc)
            return "lost"
        except EngineUnavailable as exc:
            return await self._engine_failed(run, cancel, exc)
        except Exception as exc:
            log.exception("run %s failed", run.id)
            return await self._fail(run, f"The server had an error while running: {exc}")
        finally:
            self._sources.pop(run.id, None)

    async def _execute(self, run: Run, cancel: CancelFlag) -> str:
        try:
            async with self.models.use(run.model) as inference:
                return await self._execute_on(inference, run, cancel)
        except NotFound as exc:  # the run names a model this server does not serve (any more)
            return await self._fail(run, exc.message, code="invalid_prompt")
        except ModelUnavailable as exc:
            return await self._fail(run, exc.message)

    async def _execute_on(self, inference: Inference, run: Run, cancel: CancelFlag) -> str:
        history = await self._history(run)
        instructions = await self._with_file_search(inference, run, history)
        async with self.bus.database.read() as session:
            steps = await run_tools.tool_steps(session, run.id)
        history += run_tools.tool_turns(steps)
        plan = plan_turn(msgspec.to_builtins(run.tools),
                         run_tools.turn_tool_choice(msgspec.to_builtins(run.tool_choice), len(steps),
                                                    self.max_tool_rounds),
                         run.parallel_tool_calls, msgspec.to_builtins(run.response_format))
        if plan.grammar is not None:
            try:
                inference.require_constrained_decoding(
                    "response_format" if plan.json_output else "tool_choice")
            except InvalidRequest as exc:
                return await self._fail(run, exc.message, code="invalid_prompt")
        try:
            prompt = await asyncio.to_thread(
                build_prompt, inference, instructions, history,
                truncation=msgspec.to_builtins(run.truncation_strategy),
                max_prompt_tokens=run.max_prompt_tokens, max_completion_tokens=run.max_completion_tokens,
                tools=plan.tools)
        except PromptDoesNotFit as exc:
            return await self._prompt_does_not_fit(run, exc)
        prompt = replace(prompt, cache_key=run.thread_id)
        return await self._generate(inference, run, prompt, cancel, plan, run_tools.step_usage(steps))

    async def _with_file_search(self, inference: Inference, run: Run, history: list[dict[str, str]]) -> str:
        """The run's instructions, plus the excerpts its file_search tool retrieved (searched once per
        run, recorded as a completed `tool_calls` step of type file_search; a later turn of the same run
        reuses that step's results)."""
        from assistants import file_search
        from assistants.store import vector_stores as vs_store

        tool = next((t for t in msgspec.to_builtins(run.tools) if t["type"] == "file_search"), None)
        if tool is None or self.retrieval is None or run.tool_choice == "none":
            return run.instructions  # tool_choice none: the model calls no tool, file_search neither
        options = file_search.FileSearchOptions.from_tool(tool)
        async with self.bus.database.read() as session:
            earlier = [step for step in await store.steps_of_run(session, run.id, "completed")
                       if step["type"] == "tool_calls"
                       and file_search.results_from_step(step["step_details"])]
            store_ids = await vs_store.run_vector_store_ids(session, run.assistant_id, run.thread_id)
        if earlier:
            results = file_search.results_from_step(earlier[0]["step_details"])
        else:
            query = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
            results = await file_search.search_stores(self.bus.database, self.retrieval, store_ids, query,
                                                       options)
            details = file_search.step_details(results, options, include_content=True)
            async with self.bus.transaction() as tx:
                await run_moves.record_file_search(tx.session, _record(run), details,
                                                   file_search.without_content(details), owner=self.worker_id)
        self._sources[run.id] = results
        budget = inference.ctx_size // 2
        block = await asyncio.to_thread(file_search.context_block, results, budget,
                                        lambda text: len(inference.tokenize(text)))
        return "\n\n".join(part for part in (run.instructions, block) if part)

    def _citations(self, run_id: str, text: str) -> list[dict[str, Any]]:
        sources = self._sources.get(run_id)
        if not sources:
            return []
        from assistants.file_search import file_citations

        return file_citations(text, sources)

    async def _history(self, run: Run) -> list[dict[str, str]]:
        async with self.bus.database.read() as session:
            rows = await store.list_thread_messages(session, run.thread_id)
        history: list[dict[str, Any]] = [{"role": row["role"], "content": p.content_text(row["content"])}
                                         for row in rows]
        return [m for m in history if m["content"]]

    def _maybe_crash(self, run: Run) -> None:
        if self._crash_on is not None and (run.metadata or {}).get(self._crash_on[0]) == self._crash_on[1]:
            log.error("run %s: dying on purpose (--debug-crash-on-metadata)", run.id)
            os._exit(70)

    async def _generate(self, inference: Inference, run: Run, prompt: Prompt, cancel: CancelFlag,
                        plan: TurnPlan, earlier: tuple[int, int] = (0, 0)) -> str:
        room = inference.ctx_size - prompt.tokens
        # No limit set: None, and the model's `--max-output-tokens` caps it (`Inference.generate`).
        max_tokens = min(run.max_completion_tokens, room) if run.max_completion_tokens else None
        params = to_sampling_params(run.temperature, run.top_p, max_tokens=max_tokens, grammar=plan.grammar)
        if cancel.is_set():
            return await self._finish(run, None, "", cancelled=True, prompt_tokens=prompt.tokens,
                                      completion_tokens=0, finish_reason="cancelled")
        self._maybe_crash(run)
        generation = await self.start_generation(inference, prompt, params)
        cancel.on_set(generation.cancel)
        ids = {"run_id": run.id, "thread_id": run.thread_id, "assistant_id": run.assistant_id}
        pieces: list[str] = []
        opened: tuple[str, str] | None = None

        async def append(piece: str) -> None:
            nonlocal opened
            if opened is None:
                opened = await self._open_message(run)
            first = not pieces
            pieces.append(piece)
            self.bus.emit(E.MESSAGE_DELTA, MessageDelta.text(opened[0], piece, first=first), **ids)
            message_id = opened[0]
            # Joined only when a flush takes it: no O(n^2) text building per token.
            self.bus.stage(f"message:{message_id}",
                           lambda: run_moves.partial_text_write(message_id, "".join(pieces)))

        # Output that is (forced) or may be (auto, starting with `{`) tool calls is held back until it
        # ends; everything else streams as the message (assistants.tools.holdback, as chat does).
        holdback = CallHoldBack(plan)
        try:
            if not holdback.holding:
                opened = await self._open_message(run)
            async for piece in generation:
                if cancel.is_set():
                    break  # nothing is appended once the cancel route has flipped the flag
                text = holdback.feed(piece)
                if text is not None:
                    await append(text)
            result = generation.result
            if holdback.holding and not cancel.is_set():
                assert result is not None
                rest = holdback.finish(finish_reason(result))
                if rest.calls:
                    async with self.bus.transaction() as tx:
                        await run_tools.require_action(
                            tx.session, run, rest.calls,
                            usage(result.prompt_tokens, result.completion_tokens, result.cached_tokens),
                            owner=self.worker_id)
                    return "requires_action"
                if rest.content:
                    await append(rest.content)
            if opened is None:
                opened = await self._open_message(run)
        except BaseException:
            generation.cancel()
            raise
        text = "".join(pieces)
        if cancel.is_set():
            completion_tokens = result.completion_tokens if result else len(pieces)
            return await self._finish(run, opened, text, cancelled=True, prompt_tokens=prompt.tokens,
                                      completion_tokens=completion_tokens, finish_reason="cancelled",
                                      earlier=earlier)
        assert result is not None
        return await self._finish(run, opened, text, cancelled=False, prompt_tokens=result.prompt_tokens,
                                  completion_tokens=result.completion_tokens,
                                  finish_reason=result.finish_reason, earlier=earlier,
                                  cached_tokens=result.cached_tokens)

    async def _open_message(self, run: Run) -> tuple[str, str]:
        async with self.bus.transaction() as tx:
            message, step = await run_moves.open_message(tx.session, _record(run), owner=self.worker_id)
        return message["id"], step["id"]

    async def _finish(self, run: Run, opened: tuple[str, str] | None, text: str, *, cancelled: bool,
                      prompt_tokens: int, completion_tokens: int, finish_reason: str,
                      earlier: tuple[int, int] = (0, 0), cached_tokens: int = 0) -> str:
        run_values: dict[str, Any]
        if cancelled:
            status, run_values = "cancelled", {"cancelled_at": now()}
        elif finish_reason == "length":
            status, run_values = "incomplete", {"incomplete_details": {"reason": "max_completion_tokens"}}
        else:
            status, run_values = "completed", {"completed_at": now()}
        if opened is not None:
            self.bus.unstage(f"message:{opened[0]}")
        async with self.bus.transaction() as tx:
            # The run's usage also counts its earlier tool rounds (each tool_calls step holds its own).
            await run_moves.finish_run(
                tx.session, _record(run), status, opened=opened, text=text,
                usage=usage(prompt_tokens, completion_tokens, cached_tokens),
                run_usage=usage(prompt_tokens + earlier[0], completion_tokens + earlier[1], cached_tokens),
                owner=self.worker_id, annotations=self._citations(run.id, text), **run_values)
        return status

    async def _prompt_does_not_fit(self, run: Run, exc: PromptDoesNotFit) -> str:
        if exc.reason == "max_prompt_tokens":
            async with self.bus.transaction() as tx:
                await run_moves.finish_run(tx.session, _record(run), "incomplete", opened=None, text="",
                                           usage=usage(0, 0), run_usage=usage(0, 0), owner=self.worker_id,
                                           incomplete_details={"reason": "max_prompt_tokens"})
            return "incomplete"
        return await self._fail(run, exc.message, code="invalid_prompt")

    async def _engine_failed(self, run: Run, cancel: CancelFlag, exc: EngineUnavailable) -> str:
        """No engine could decode the run (remote engines down or gone mid-answer): wait for the
        router's next retry (a cancel ends the wait), then re-queue it from the start, bounded by
        `MAX_ENGINE_ATTEMPTS`. A cancelled run ends `cancelled` with what it had said."""
        log.warning("run %s: %s; re-queueing it in %ss", run.id, exc.message, exc.retry_after)
        woken = asyncio.Event()
        cancel.on_set(woken.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), exc.retry_after)
        async with self.bus.transaction() as tx:
            if cancel.is_set():
                row = await run_moves.cancel_owned(tx.session, run.id, owner=self.worker_id)
                return "cancelled" if row is not None else "lost"
            return await run_moves.requeue_after_engine_failure(
                tx.session, run.id, owner=self.worker_id, max_attempts=MAX_ENGINE_ATTEMPTS,
                reason=exc.message)

    async def _fail(self, run: Run, message: str, code: str = "server_error") -> str:
        async with self.bus.transaction() as tx:
            row = await run_moves.fail_run(tx.session, run.id, {"code": code, "message": message},
                                           owner=self.worker_id)
            if row is None:
                current = await run_moves.run_row(tx.session, run.id)
                return str(current["status"]) if current else "lost"
        return "failed"


def _record(run: Run) -> dict[str, Any]:
    return {"id": run.id, "thread_id": run.thread_id, "assistant_id": run.assistant_id}
