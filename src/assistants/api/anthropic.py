"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API, a front door over the
chat serving path. Every error on these two routes is in Anthropic's envelope; `anthropic-version`
and `anthropic-beta` headers are accepted and change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from assistants import openapi
from assistants.api.chat import wait_disconnected
from assistants.api.errors import anthropic_body, exception_handlers
from assistants.inference.models import Models
from assistants.protocol.anthropic import (
    AnthropicErrorResponse,
    AnthropicMessage,
    CountTokensRequest,
    CountTokensResponse,
    MessagesRequest,
)
from assistants.protocol.codec import decode
from assistants.serving import anthropic as serving
from assistants.serving.chat import collect, render_turn

_HANDLERS = exception_handlers(anthropic_body)
_OPT = openapi.error_body(AnthropicErrorResponse)


@post("/v1/messages", status_code=200, tags=["anthropic"], exception_handlers=_HANDLERS,
      opt={**_OPT, **openapi.body(MessagesRequest)})
async def create_message(
    models: NamedDependency[Models], request: Request
) -> Response[AnthropicMessage] | ServerSentEvent:
    data = decode(MessagesRequest, await request.body())
    models.entry(data.model)
    plan = serving.plan_of(data)
    async with models.use(data.model) as inference:
        prompt = render_turn(inference, serving.chat_messages(data), plan)
        tokens = await asyncio.to_thread(inference.tokenize, prompt)
        generation = await inference.generate(tokens, serving.sampling_params(data, plan))
    id_ = serving.message_id()
    if data.stream:
        frames = serving.stream_events(generation, plan, id_, inference.model_id, len(tokens))
        return ServerSentEvent(_sse(frames))
    text, result = await collect(generation, lambda: wait_disconnected(request))
    answer = serving.answer_of(text, plan, result)
    return Response(serving.message(id_, inference.model_id, answer, result))


@post("/v1/messages/count_tokens", status_code=200, tags=["anthropic"], exception_handlers=_HANDLERS,
      opt={**_OPT, **openapi.body(CountTokensRequest)})
async def count_message_tokens(models: NamedDependency[Models], request: Request) -> CountTokensResponse:
    data = decode(CountTokensRequest, await request.body())
    models.entry(data.model)
    plan = serving.plan_of(data)
    async with models.use(data.model) as inference:
        prompt = render_turn(inference, serving.chat_messages(data), plan)
        return CountTokensResponse(len(await asyncio.to_thread(inference.tokenize, prompt)))


ROUTES = [create_message, count_message_tokens]


async def _sse(frames: AsyncIterator[serving.StreamFrame]) -> AsyncIterator[ServerSentEventMessage]:
    async for frame in frames:
        yield ServerSentEventMessage(data=frame.data, event=frame.event)
