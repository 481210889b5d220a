"""POST /v1/chat/completions and /v1/completions: prompt -> batcher directly, no store."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncGenerator

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.response import Stream

from assistants import openapi
from assistants.api import sse
from assistants.inference import Generation
from assistants.inference.models import Models
from assistants.protocol.chat import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessageOut,
    Completion,
    CompletionChoice,
    CompletionRequest,
    chat_messages,
    check_chat,
    check_completion,
)
from assistants.protocol.codec import decode
from assistants.serving.chat import (
    chat_chunks,
    collect,
    completion_chunks,
    finish_reason,
    render_turn,
    timings_of,
    usage_of,
)
from assistants.serving.sampling import to_sampling_params
from assistants.tools.chat import check_tool_fields, check_tool_messages
from assistants.tools.holdback import parse_turn

COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""OpenAI's default for the legacy /v1/completions endpoint."""


@post("/v1/chat/completions", status_code=200, tags=["chat"], opt=openapi.body(ChatCompletionRequest))
async def create_chat_completion(
    models: NamedDependency[Models], request: Request
) -> Response[ChatCompletion] | Stream:
    data = decode(ChatCompletionRequest, await request.body())
    models.entry(data.model)  # an unknown model is a 404 before any other check
    check_chat(data)
    plan = check_tool_fields(data.tools, data.tool_choice, data.parallel_tool_calls, data.response_format)
    check_tool_messages(data.messages)
    max_tokens = data.max_completion_tokens if data.max_completion_tokens is not None else data.max_tokens
    params = to_sampling_params(data.temperature, data.top_p, seed=data.seed, max_tokens=max_tokens,
                                stop=data.stop, grammar=plan.grammar, logit_bias=data.logit_bias)
    async with models.use(data.model) as inference:
        prompt = render_turn(inference, chat_messages(data.messages), plan)
        generation = await inference.generate(prompt, params)
    completion_id, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        return _sse(generation, chat_chunks(generation, plan, completion_id, created, inference.model_id,
                                            include_usage), text_only=plan.calls == "never")
    text, result = await collect(generation, lambda: wait_disconnected(request))
    answer = parse_turn(text, plan, finish_reason(result))
    calls = [call.wire() for call in answer.calls] if answer.calls else None
    message = ChatMessageOut(content=answer.content, tool_calls=calls)
    return Response(
        ChatCompletion(
            id=completion_id,
            created=created,
            model=inference.model_id,
            choices=[ChatChoice(index=0, message=message, finish_reason=answer.finish_reason)],
            usage=usage_of(result),
            timings=timings_of(result),
        )
    )


@post("/v1/completions", status_code=200, tags=["chat"], opt=openapi.body(CompletionRequest))
async def create_completion(
    models: NamedDependency[Models], request: Request
) -> Response[Completion] | Stream:
    data = decode(CompletionRequest, await request.body())
    models.entry(data.model)
    prompt = check_completion(data)
    max_tokens = data.max_tokens if data.max_tokens is not None else COMPLETIONS_DEFAULT_MAX_TOKENS
    params = to_sampling_params(data.temperature, data.top_p, seed=data.seed, max_tokens=max_tokens,
                                stop=data.stop, logit_bias=data.logit_bias, grammar=data.grammar or None,
                                top_k=data.top_k)
    async with models.use(data.model) as inference:
        if data.grammar:
            inference.require_constrained_decoding("grammar")
        generation = await inference.generate(prompt, params, cache_key=data.prompt_cache_key)
    completion_id, created, model = f"cmpl-{secrets.token_hex(12)}", int(time.time()), inference.model_id
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        return _sse(generation, completion_chunks(generation, completion_id, created, model, include_usage))
    text, result = await collect(generation, lambda: wait_disconnected(request))
    return Response(
        Completion(
            id=completion_id,
            created=created,
            model=model,
            choices=[CompletionChoice(0, text, finish_reason=finish_reason(result))],
            usage=usage_of(result),
        )
    )


def _sse(generation: Generation, lines: AsyncGenerator[str, None], *, text_only: bool = True) -> Stream:
    """The closing lines once the generation has ended go out together, and so does text it has
    queued when every piece is a line of its own (`text_only`): a turn that may be tool calls holds
    pieces back, and a line taken with them must not wait for the next one."""
    return sse.stream(sse.data_events(
        lines, lambda: generation.finished or (text_only and generation.pending > 0)))


async def wait_disconnected(request: Request) -> None:
    # The body has been read: the next ASGI message is `http.disconnect`, sent when the client leaves.
    while (await request.receive())["type"] != "http.disconnect":
        pass
