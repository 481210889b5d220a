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
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants import store
from assistants.errors import InvalidRequest
from assistants.events import EventBus
from assistants.protocol.runs import Run
from assistants.runs import queue, state
from assistants.store import direct
from assistants.store.ids import now
from assistants.store.models import messages, runs
from assistants.tools import runs as run_tools
from assistants.tools.calls import may_become_call, parse_tool_calls
from assistants.tools.plan import TurnPlan, plan_turn

log = logging.getLogger("assistants.runs.executor")

DEFAULT_COMPLETION_RESERVE = 256
"""Tokens kept free for the answer when truncating a thread and no max_completion_tokens is set."""

_encode = msgspec.json.Encoder().encode


class Inference(Protocol):
    """What the executor needs from `assistants.inference.Inference`."""

    @property
    def ctx_size(self) -> int: ...
    def render_chat(self, messages: list[dict[str, Any]], *, tools: Any = None,
                    add_generation_prompt: bool = True) -> str: ...
    def tokenize(self, text: str) -> list[int]: ...


StartGeneration = Callable[["Prompt", float, float, int, str | None], Awaitable[Any]]
"""(prompt, temperature, top_p, max_tokens, grammar) -> a Generation (async iterator of text, `.result`,
`.cancel()`). Bound to the real Inference by the worker, which decodes the prompt's token ids."""


class CancelFlag:
    """Set by the cancel route; the executor checks it before appending each piece."""

    def __init__(self) -> None:
        self._set = False
        self._on_set: list[Callable[[], None]] = []

    def set(self) -> None:
        if not self._set:
            self._set = True
            for callback in self._on_set:
                callback()

    def is_set(self) -> bool:
        return self._set

    def on_set(self, callback: Callable[[], None]) -> None:
        self._on_set.append(callback)
        if self._set:
            callback()


@dataclass(frozen=True)
class Prompt:
    text: str
    ids: list[int]
    """Its tokens, counted for truncation and then decoded as they are (tokenized once)."""
    cache_key: str | None = None
    """Whose KV cache it prefers and is persisted under (the run's thread)."""

    @property
    def tokens(self) -> int:
        return len(self.ids)


class PromptDoesNotFit(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """`max_prompt_tokens` (run ends incomplete) or `context` (run fails)."""
        self.message = message


def message_text(content: Sequence[Mapping[str, Any]]) -> str:
    """The text parts of a stored message (images and refusals are not sent to a text model)."""
    return "\n".join(part["text"]["value"] for part in content
                     if part.get("type") == "text" and part["text"]["value"])


def completion_reserve(ctx_size: int, max_completion_tokens: int | None) -> int:
    return min(max_completion_tokens or DEFAULT_COMPLETION_RESERVE, ctx_size // 2)


def build_prompt(inference: Inference, instructions: str, history: Sequence[Mapping[str, str]], *,
                 truncation: Mapping[str, Any], max_prompt_tokens: int | None,
                 max_completion_tokens: int | None, tools: list[dict[str, Any]] | None = None) -> Prompt:
    """Render system + thread through the chat template, truncated per the run's strategy.

    `auto` drops the oldest messages until the prompt fits both max_prompt_tokens and the sequence's
    context minus the completion reserve. `last_messages: N` keeps the N newest and drops nothing more.
    The newest message is never dropped: if it cannot fit, PromptDoesNotFit says why.
    """
    system = [{"role": "system", "content": instructions}] if instructions else []
    kept = list(history)
    if truncation.get("type") == "last_messages" and truncation.get("last_messages"):
        kept = kept[-int(truncation["last_messages"]):]
    context_limit = inference.ctx_size - completion_reserve(inference.ctx_size, max_completion_tokens)
    limit = min(context_limit, max_prompt_tokens) if max_prompt_tokens else context_limit

    def render(items: list[Mapping[str, str]]) -> Prompt:
        text = inference.render_chat(system + [dict(m) for m in items], tools=tools)
        return Prompt(text, inference.tokenize(text))

    prompt = render(kept)
    if truncation.get("type", "auto") == "auto":
        # Drop oldest first; halve the search space while far over, then one at a time.
        while prompt.tokens > limit and len(kept) > 1:
            over = prompt.tokens / limit
            drop = max(1, int(len(kept) * (1 - 1 / over) * 0.5)) if over > 1.5 else 1
            kept = kept[min(drop, len(kept) - 1):]
            prompt = render(kept)
    if max_prompt_tokens and prompt.tokens > max_prompt_tokens:
        raise PromptDoesNotFit("max_prompt_tokens", f"The prompt needs {prompt.tokens} tokens, more than "
                               f"max_prompt_tokens ({max_prompt_tokens}).")
    if prompt.tokens >= inference.ctx_size:
        raise PromptDoesNotFit("context", f"The prompt needs {prompt.tokens} tokens, more than the model's "
                               f"context of {inference.ctx_size} tokens per sequence.")
    return prompt


class Executor:
    def __init__(self, bus: EventBus, inference: Inference, start_generation: StartGeneration,
                 max_tool_rounds: int = 10) -> None:
        self.bus = bus
        self.max_tool_rounds = max_tool_rounds
        self.inference = inference
        self.start_generation = start_generation

    async def execute(self, run: Run, cancel: CancelFlag) -> str:
        """Run to a terminal status and return it. Raises CancelledError on shutdown (run left
        in_progress for the worker to rewind)."""
        try:
            history = await self._history(run)
            async with self.bus.database.read() as session:
                steps = await run_tools.tool_steps(session, run.id)
            history += run_tools.tool_turns(steps)
            plan = plan_turn(msgspec.to_builtins(run.tools),
                             run_tools.turn_tool_choice(msgspec.to_builtins(run.tool_choice), len(steps),
                                                        self.max_tool_rounds),
                             run.parallel_tool_calls, msgspec.to_builtins(run.response_format))
            if plan.grammar is not None:
                try:
                    self.inference.require_constrained_decoding(
                        "response_format" if plan.json_output else "tool_choice")
                except InvalidRequest as exc:
                    return await self._fail(run, exc.message, code="invalid_prompt")
            try:
                prompt = await asyncio.to_thread(
                    build_prompt, self.inference, run.instructions, history,
                    truncation=msgspec.to_builtins(run.truncation_strategy),
                    max_prompt_tokens=run.max_prompt_tokens, max_completion_tokens=run.max_completion_tokens,
                    tools=plan.tools)
            except PromptDoesNotFit as exc:
                return await self._prompt_does_not_fit(run, exc)
            prompt = replace(prompt, cache_key=run.thread_id)
            return await self._generate(run, prompt, cancel, plan, run_tools.step_usage(steps))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("run %s failed", run.id)
            return await self._fail(run, f"The server had an error while running: {exc}")

    async def _history(self, run: Run) -> list[dict[str, str]]:
        async with self.bus.database.read() as session:
            rows = await store.list_thread_messages(session, run.thread_id)
        history: list[dict[str, Any]] = [{"role": row["role"], "content": message_text(row["content"])}
                                         for row in rows]
        return [m for m in history if m["content"]]

    async def _generate(self, run: Run, prompt: Prompt, cancel: CancelFlag, plan: TurnPlan,
                        earlier: tuple[int, int] = (0, 0)) -> str:
        room = self.inference.ctx_size - prompt.tokens
        max_tokens = min(run.max_completion_tokens or room, room)
        temperature = 1.0 if run.temperature is None else run.temperature
        top_p = 1.0 if run.top_p is None else run.top_p
        if cancel.is_set():
            return await self._finish(run, None, "", cancelled=True, prompt_tokens=prompt.tokens,
                                      completion_tokens=0, finish_reason="cancelled")
        generation = await self.start_generation(prompt, temperature, top_p, max_tokens, plan.grammar)
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
            self.bus.emit("thread.message.delta", _delta(opened[0], piece, first), **ids)
            message_id = opened[0]
            # Joined only when a flush takes it: no O(n^2) text building per token.
            self.bus.stage(f"message:{message_id}", lambda: _partial_text_write(message_id, "".join(pieces)))

        # Output that is (forced) or may be (auto, starting with `{`) tool calls is held back until it
        # ends; everything else streams as the message (see assistants.tools.plan).
        held: list[str] | None = [] if plan.calls != "never" else None
        try:
            if held is None:
                opened = await self._open_message(run)
            async for piece in generation:
                if cancel.is_set():
                    break  # nothing is appended once the cancel route has flipped the flag
                if held is not None:
                    held.append(piece)
                    so_far = "".join(held)
                    if plan.calls == "forced" or not so_far.strip() or may_become_call(so_far):
                        continue
                    piece, held = so_far, None  # plain text after all: stream it from here on
                await append(piece)
            result = generation.result
            if held is not None and not cancel.is_set():
                assert result is not None
                calls = parse_tool_calls("".join(held), plan.names)
                if calls:
                    used = (result.prompt_tokens, result.completion_tokens)
                    usage = {"prompt_tokens": used[0], "completion_tokens": used[1],
                             "total_tokens": sum(used)}
                    async with self.bus.transaction() as tx:
                        await run_tools.require_action(tx, run, calls, usage)
                    return "requires_action"
                if held:
                    await append("".join(held))
            if opened is None:
                opened = await self._open_message(run)
        except BaseException:
            generation.cancel()
            raise
        message_id, step_id = opened
        text = "".join(pieces)
        if cancel.is_set():
            completion_tokens = result.completion_tokens if result else len(pieces)
            return await self._finish(run, (message_id, step_id), text, cancelled=True,
                                      prompt_tokens=prompt.tokens, completion_tokens=completion_tokens,
                                      finish_reason="cancelled", earlier=earlier)
        assert result is not None
        return await self._finish(run, (message_id, step_id), text, cancelled=False,
                                  prompt_tokens=result.prompt_tokens,
                                  completion_tokens=result.completion_tokens,
                                  finish_reason=result.finish_reason, earlier=earlier,
                                  cached_tokens=result.cached_tokens)

    async def _open_message(self, run: Run) -> tuple[str, str]:
        ids = {"run_id": run.id, "thread_id": run.thread_id, "assistant_id": run.assistant_id}
        async with self.bus.transaction() as tx:
            message = await store.create_run_message(tx.session, thread_id=run.thread_id, run_id=run.id,
                                                     assistant_id=run.assistant_id)
            details = {"type": "message_creation", "message_creation": {"message_id": message["id"]}}
            step = await store.create_step(tx.session, ids | {"id": run.id}, details)
            tx.emit("thread.run.step.created", p.step_object(step), **ids)
            tx.emit("thread.run.step.in_progress", p.step_object(step), **ids)
            tx.emit("thread.message.created", p.message_object(message), **ids)
            tx.emit("thread.message.in_progress", p.message_object(message), **ids)
        return message["id"], step["id"]

    async def _finish(self, run: Run, opened: tuple[str, str] | None, text: str, *, cancelled: bool,
                      prompt_tokens: int, completion_tokens: int, finish_reason: str,
                      earlier: tuple[int, int] = (0, 0), cached_tokens: int = 0) -> str:
        details = {"prompt_tokens_details": {"cached_tokens": cached_tokens}}
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens, **details}
        # The run's usage also counts its earlier tool rounds (each tool_calls step holds its own).
        run_usage = {"prompt_tokens": prompt_tokens + earlier[0],
                     "completion_tokens": completion_tokens + earlier[1],
                     "total_tokens": prompt_tokens + completion_tokens + sum(earlier), **details}
        current = now()
        if cancelled:
            status, run_values = "cancelled", {"cancelled_at": current}
        elif finish_reason == "length":
            status, run_values = "incomplete", {"incomplete_details": {"reason": "max_completion_tokens"}}
        else:
            status, run_values = "completed", {"completed_at": current}
        ids = {"run_id": run.id, "thread_id": run.thread_id, "assistant_id": run.assistant_id}
        async with self.bus.transaction() as tx:
            if opened is not None:
                message_id, step_id = opened
                self.bus.unstage(f"message:{message_id}")
                reason = state.MESSAGE_INCOMPLETE_REASON.get(status)
                content = [{"type": "text", "text": {"value": text, "annotations": []}}]
                if reason:
                    message = await store.update_message_columns(
                        tx.session, message_id, content=content, status="incomplete", incomplete_at=current,
                        incomplete_details={"reason": reason})
                else:
                    message = await store.update_message_columns(
                        tx.session, message_id, content=content, status="completed", completed_at=current)
                tx.emit(f"thread.message.{message['status']}", p.message_object(message), **ids)
                step_status = state.STEP_STATUS_FOR_RUN[status]
                step = await store.update_step_columns(tx.session, step_id, status=step_status, usage=usage,
                                                       **{f"{step_status}_at": current})
                tx.emit(f"thread.run.step.{step_status}", p.step_object(step), **ids)
            row = await _set_final(tx.session, run.id, status, usage=run_usage, expires_at=None, **run_values)
            queue.emit_run(tx, row)
        return status

    async def _prompt_does_not_fit(self, run: Run, exc: PromptDoesNotFit) -> str:
        if exc.reason == "max_prompt_tokens":
            async with self.bus.transaction() as tx:
                row = await _set_final(tx.session, run.id, "incomplete", expires_at=None,
                                       incomplete_details={"reason": "max_prompt_tokens"},
                                       usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
                queue.emit_run(tx, row)
            return "incomplete"
        return await self._fail(run, exc.message, code="invalid_prompt")

    async def _fail(self, run: Run, message: str, code: str = "server_error") -> str:
        error = {"code": code, "message": message}
        async with self.bus.transaction() as tx:
            current = (await tx.session.execute(sa.select(runs.c.status).where(runs.c.id == run.id))).scalar()
            if current not in ("in_progress", "cancelling"):
                return str(current)
            row = await _set_final(tx.session, run.id, "failed", failed_at=now(), last_error=error,
                                   expires_at=None)
            await queue.end_open_steps_and_message(tx, row, "failed", error)
            queue.emit_run(tx, row)
        return "failed"


async def _set_final(session: AsyncSession, run_id: str, status: str, **values: Any) -> Mapping[str, Any]:
    # in_progress, or cancelling when a cancel raced with the end: cancelling -> completed is legal.
    return await queue.set_run(session, run_id, ("in_progress", "cancelling"), status=status, **values)


def _delta(message_id: str, piece: str, first: bool) -> bytes:
    text: dict[str, Any] = {"value": piece, "annotations": []} if first else {"value": piece}
    return _encode({"id": message_id, "object": "thread.message.delta",
                    "delta": {"content": [{"index": 0, "type": "text", "text": text}]}})


_GROW_MESSAGE = (sa.update(messages)
                 .where(messages.c.id == sa.bindparam("message_id"), messages.c.status == "in_progress")
                 .values(content=sa.bindparam("content", type_=messages.c.content.type)))
"""Every flush runs it for each streaming message: prebuilt, for the direct driver path."""


def _partial_text_write(message_id: str, text: str) -> Callable[[AsyncSession], Any]:
    content = [{"type": "text", "text": {"value": text, "annotations": []}}]

    async def write(session: AsyncSession) -> None:
        await direct.execute(session, _GROW_MESSAGE, {"message_id": message_id, "content": content})
    return write
