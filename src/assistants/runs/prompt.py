"""A run's prompt: the thread as chat turns, rendered through the template and truncated to fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_COMPLETION_RESERVE = 256
"""Tokens kept free for the answer when truncating a thread and no max_completion_tokens is set."""

class Inference(Protocol):
    """What a run needs from `assistants.inference.Inference`."""

    @property
    def ctx_size(self) -> int: ...
    def render_chat(self, messages: list[dict[str, Any]], *, tools: Any = None,
                    add_generation_prompt: bool = True) -> str: ...
    def tokenize(self, text: str) -> list[int]: ...
    def require_constrained_decoding(self, param: str) -> None: ...


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
