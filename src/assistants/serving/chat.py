"""Chat and text completions answered from the batcher: the whole answer, or its SSE data lines.

Both streams go through `_lines`, the one place that ends a stream: the usage chunk when asked for,
`[DONE]`, or, when the generation fails mid-stream, an error object (the SDK raises it as APIError).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import msgspec

from assistants.errors import APIError, ClientDisconnected, InvalidRequest, envelope
from assistants.inference import Generation, GenerationResult, Inference
from assistants.prompt import TemplateError
from assistants.protocol.chat import (
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatDelta,
    ChatFinishReason,
    Completion,
    CompletionChoice,
    CompletionUsage,
    Timings,
)
from assistants.protocol.codec import encoder
from assistants.tools.chat import stream_turn
from assistants.tools.plan import TurnPlan

log = logging.getLogger("assistants.serving.chat")


def render_turn(inference: Inference, messages: Sequence[Mapping[str, Any]], plan: TurnPlan) -> str:
    """The prompt of a chat turn (chat completions, Anthropic's messages): the messages with the tools
    `plan` shows. A template that refuses the conversation, or a grammar this engine cannot enforce,
    is the request's fault (400)."""
    try:
        prompt = inference.render_chat(messages, tools=plan.tools)
    except TemplateError as exc:
        raise InvalidRequest(str(exc), param="messages") from exc
    if plan.grammar is not None:
        inference.require_constrained_decoding("response_format" if plan.json_output else "tool_choice")
    return prompt


def finish_reason(result: GenerationResult) -> ChatFinishReason:
    # A cancelled generation only reaches a client that is still listening when the server shuts down.
    return "length" if result.finish_reason == "length" else "stop"


def usage_of(result: GenerationResult) -> CompletionUsage:
    return CompletionUsage.of(result.prompt_tokens, result.completion_tokens, result.cached_tokens)


def timings_of(result: GenerationResult) -> Timings:
    # llama-server's sense: prompt_n counts the prompt tokens evaluated, cache_n those reused.
    return Timings.of(result.prompt_tokens - result.cached_tokens, result.prompt_ms, result.completion_tokens,
                      result.predicted_ms, cache_n=result.cached_tokens)


async def collect(generation: Generation,
                  disconnected: Callable[[], Awaitable[None]]) -> tuple[str, GenerationResult]:
    """The whole text and the result; a client that hangs up meanwhile (`disconnected` returns)
    cancels the generation instead of waiting for it."""
    async with generation:
        text = asyncio.ensure_future(generation.text())
        gone = asyncio.ensure_future(disconnected())
        try:
            await asyncio.wait({text, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not text.done():
            generation.cancel()
            text.cancel()
            raise ClientDisconnected("The client closed the connection.")
        answer = text.result()  # raises what the generation failed with (a remote engine gone)
        result = generation.result
        assert result is not None  # set before the text iterator ends
        return answer, result


def chat_chunks(generation: Generation, plan: TurnPlan, completion_id: str, created: int, model: str,
                include_usage: bool) -> AsyncGenerator[str, None]:
    """The SSE data lines of a streamed chat completion (tool calls held back as `plan` says)."""

    def chunk(delta: dict[str, Any], reason: ChatFinishReason | None) -> str:
        timings = timings_of(generation.result) if reason is not None and generation.result else msgspec.UNSET
        choice = ChatChunkChoice(0, ChatDelta(**delta), finish_reason=reason)
        return encoder.encode(ChatCompletionChunk(completion_id, created, model, [choice],
                                                  timings=timings)).decode()

    def reason() -> ChatFinishReason:
        assert generation.result is not None
        return finish_reason(generation.result)

    async def body() -> AsyncIterator[str]:
        # Plain text opens with an empty content; a turn that may be calls leaves content out.
        yield chunk({"role": "assistant", **({"content": ""} if plan.calls == "never" else {})}, None)
        async for line in stream_turn(generation, plan, chunk, reason):
            yield line

    def usage(result: GenerationResult) -> str:
        chunk = ChatCompletionChunk(completion_id, created, model, [], usage_of(result))
        return encoder.encode(chunk).decode()

    return _lines(generation, body(), usage if include_usage else None)


def completion_chunks(generation: Generation, completion_id: str, created: int, model: str,
                      include_usage: bool) -> AsyncGenerator[str, None]:
    """The SSE data lines of a streamed /v1/completions answer."""

    def chunk(choices: list[CompletionChoice], usage: CompletionUsage | None = None) -> str:
        return encoder.encode(Completion(completion_id, created, model, choices, usage)).decode()

    async def body() -> AsyncIterator[str]:
        async for text in generation:
            yield chunk([CompletionChoice(0, text)])
        assert generation.result is not None
        yield chunk([CompletionChoice(0, "", finish_reason=finish_reason(generation.result))])

    def usage(result: GenerationResult) -> str:
        return chunk([], usage_of(result))

    return _lines(generation, body(), usage if include_usage else None)


async def _lines(generation: Generation, body: AsyncIterator[str],
                 usage: Callable[[GenerationResult], str] | None) -> AsyncGenerator[str, None]:
    """`body`, then the usage line and `[DONE]`. Leaving early (client gone) cancels the generation."""
    async with generation:
        try:
            async for line in body:
                yield line
        except Exception as exc:
            log.exception("generation failed mid-stream")
            yield encoder.encode(stream_error(exc)).decode()
            return
        result = generation.result
        assert result is not None
        if usage is not None:
            yield usage(result)
        yield "[DONE]"


def stream_error(exc: Exception) -> dict[str, Any]:
    """The error object a stream ends with, in the API's envelope."""
    if isinstance(exc, APIError):
        return envelope(exc.message, exc.type, exc.param, exc.code)
    return envelope("The model failed while generating the response.", "server_error", None, "server_error")
