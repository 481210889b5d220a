"""One chat turn on the shared batcher, whichever front door asked: /v1/chat/completions and
Anthropic's /v1/messages render, check and collect through here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from assistants.errors import APIError, InvalidRequest
from assistants.inference import Generation, GenerationResult, Inference
from assistants.prompt import TemplateError
from assistants.tools.plan import TurnPlan


class ClientDisconnected(APIError):
    """Nobody will read this response (nginx's 499); raised only to end the handler."""

    status_code = 499


def render_turn(inference: Inference, messages: Sequence[Mapping[str, Any]], plan: TurnPlan) -> str:
    """The prompt of a turn: the messages with the tools `plan` shows. A template that refuses the
    conversation, or a grammar this engine cannot enforce, is the request's fault (400)."""
    try:
        prompt = inference.render_chat(messages, tools=plan.tools)
    except TemplateError as exc:
        raise InvalidRequest(str(exc), param="messages") from exc
    if plan.grammar is not None:
        inference.require_constrained_decoding("response_format" if plan.json_output else "tool_choice")
    return prompt


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
        result = generation.result
        assert result is not None  # set before the text iterator ends
        return text.result(), result
