"""POST /v1/chat/completions and /v1/completions: prompt -> batcher directly, no store."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.response import ServerSentEvent

from assistants.api.models import resolve_model
from assistants.errors import APIError, envelope
from assistants.inference import Generation, GenerationResult
from assistants.protocol.chat import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    ChatMessageOut,
    Completion,
    CompletionChoice,
    CompletionRequest,
    Timings,
    Usage,
    chat_messages,
    check_chat,
    check_completion,
    sampling_params,
)
from assistants.services import Services
from assistants.serving.turn import collect, render_turn
from assistants.tools import chat as tool_chat
from assistants.tools.chat import check_tool_fields, check_tool_messages
from assistants.tools.plan import TurnPlan

log = logging.getLogger("assistants.api.chat")

COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""OpenAI's default for the legacy /v1/completions endpoint."""

_encoder = msgspec.json.Encoder()


@post("/v1/chat/completions", status_code=200, tags=["chat"])
async def create_chat_completion(
    data: ChatCompletionRequest, services: Services, request: Request
) -> Response[ChatCompletion] | ServerSentEvent:
    inference = resolve_model(services, data.model)
    check_chat(data)
    plan = check_tool_fields(data.tools, data.tool_choice, data.parallel_tool_calls, data.response_format)
    check_tool_messages(data.messages)
    prompt = render_turn(inference, chat_messages(data.messages), plan)
    max_tokens = data.max_completion_tokens if data.max_completion_tokens is not None else data.max_tokens
    params = dataclasses.replace(sampling_params(data, max_tokens), grammar=plan.grammar)
    generation = await inference.generate(prompt, params)
    completion_id, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        if plan.calls != "never":
            return ServerSentEvent(
                _tool_chat_stream(generation, plan, completion_id, created, inference.model_id, include_usage)
            )
        return ServerSentEvent(
            _chat_stream(generation, completion_id, created, inference.model_id, include_usage)
        )
    text, result = await collect(generation, lambda: wait_disconnected(request))
    content, calls, reason = tool_chat.answer(text, plan, _finish(result.finish_reason))
    message = ChatMessageOut(content=content, tool_calls=[c.wire() for c in calls] if calls else None)
    return Response(
        ChatCompletion(
            id=completion_id,
            created=created,
            model=inference.model_id,
            choices=[ChatChoice(index=0, message=message, finish_reason=reason)],  # type: ignore[arg-type]
            usage=Usage.of(result.prompt_tokens, result.completion_tokens),
            timings=timings_of(result),
        )
    )


def timings_of(result: GenerationResult) -> Timings:
    return Timings.of(result.prompt_tokens, result.prompt_ms, result.completion_tokens, result.predicted_ms)


def _chat_stream(
    generation: Generation, completion_id: str, created: int, model: str, include_usage: bool
) -> AsyncIterator[str]:
    def chunk(choices: list[ChatChunkChoice], usage: Usage | None = None,
              timings: Timings | msgspec.UnsetType = msgspec.UNSET) -> str:
        return _encoder.encode(ChatCompletionChunk(completion_id, created, model, choices, usage,
                                                   timings=timings)).decode()

    return _stream(
        generation,
        first=lambda: chunk([ChatChunkChoice(0, ChatDelta(role="assistant", content=""))]),
        piece=lambda text: chunk([ChatChunkChoice(0, ChatDelta(content=text))]),
        finish=lambda result: chunk(
            [ChatChunkChoice(0, ChatDelta(), finish_reason=_finish(result.finish_reason))],
            timings=timings_of(result)),
        usage=(lambda u: chunk([], u)) if include_usage else None,
    )


async def _tool_chat_stream(
    generation: Generation, plan: TurnPlan, completion_id: str, created: int, model: str, include_usage: bool
) -> AsyncIterator[str]:
    """A chat stream whose output may be tool calls (see assistants.tools.chat)."""

    def chunk(delta: dict[str, Any], reason: str | None) -> str:
        choice = ChatChunkChoice(0, ChatDelta(**delta), finish_reason=reason)  # type: ignore[arg-type]
        return _encoder.encode(ChatCompletionChunk(completion_id, created, model, [choice])).decode()

    def reason() -> str:
        assert generation.result is not None
        return _finish(generation.result.finish_reason)

    async with generation:
        yield chunk({"role": "assistant"}, None)
        try:
            async for line in tool_chat.stream_turn(generation, plan, chunk, reason):
                yield line
        except Exception as exc:
            log.exception("generation failed mid-stream")
            yield _encoder.encode(_stream_error(exc)).decode()
            return
        result = generation.result
        assert result is not None
        if include_usage:
            usage = Usage.of(result.prompt_tokens, result.completion_tokens)
            yield _encoder.encode(ChatCompletionChunk(completion_id, created, model, [], usage)).decode()
        yield "[DONE]"


@post("/v1/completions", status_code=200, tags=["chat"])
async def create_completion(
    data: CompletionRequest, services: Services, request: Request
) -> Response[Completion] | ServerSentEvent:
    inference = resolve_model(services, data.model)
    prompt = check_completion(data)
    max_tokens = data.max_tokens if data.max_tokens is not None else COMPLETIONS_DEFAULT_MAX_TOKENS
    generation = await inference.generate(prompt, sampling_params(data, max_tokens))
    completion_id, created, model = f"cmpl-{secrets.token_hex(12)}", int(time.time()), inference.model_id
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)

        def chunk(choices: list[CompletionChoice], usage: Usage | None = None) -> str:
            return _encoder.encode(Completion(completion_id, created, model, choices, usage)).decode()

        return ServerSentEvent(
            _stream(
                generation,
                first=None,
                piece=lambda text: chunk([CompletionChoice(0, text)]),
                finish=lambda result: chunk(
                    [CompletionChoice(0, "", finish_reason=_finish(result.finish_reason))]),
                usage=(lambda u: chunk([], u)) if include_usage else None,
            )
        )
    text, result = await collect(generation, lambda: wait_disconnected(request))
    return Response(
        Completion(
            id=completion_id,
            created=created,
            model=model,
            choices=[CompletionChoice(0, text, finish_reason=_finish(result.finish_reason))],
            usage=Usage.of(result.prompt_tokens, result.completion_tokens),
        )
    )


async def wait_disconnected(request: Request) -> None:
    # The body has been read: the next ASGI message is `http.disconnect`, sent when the client leaves.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _stream(
    generation: Generation,
    *,
    first: Callable[[], str] | None,
    piece: Callable[[str], str],
    finish: Callable[[GenerationResult], str],
    usage: Callable[[Usage], str] | None,
) -> AsyncIterator[str]:
    """SSE data lines of one generation. Leaving early (client gone) cancels the generation."""
    async with generation:
        if first is not None:
            yield first()
        try:
            async for text in generation:
                yield piece(text)
        except Exception as exc:  # the SDK raises APIError on an in-stream error object
            log.exception("generation failed mid-stream")
            yield _encoder.encode(_stream_error(exc)).decode()
            return
        result = generation.result
        assert result is not None
        yield finish(result)
        if usage is not None:
            yield usage(Usage.of(result.prompt_tokens, result.completion_tokens))
        yield "[DONE]"


def _stream_error(exc: Exception) -> dict[str, object]:
    if isinstance(exc, APIError):
        return envelope(exc.message, exc.type, exc.param, exc.code)
    return envelope("The model failed while generating the response.", "server_error", None, "server_error")


def _finish(reason: str) -> str:
    # A cancelled generation only reaches a client that is still listening when the server shuts down.
    return "stop" if reason == "cancelled" else reason
