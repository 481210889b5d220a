"""Request fields -> `SamplingParams`, for every front door (chat completions, completions, runs,
Anthropic's messages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assistants.inference.engine import SamplingParams


def to_sampling_params(temperature: float | None, top_p: float | None, *, seed: int | None = None,
                       max_tokens: int | None = None, stop: str | Sequence[str] | None = None,
                       grammar: str | None = None, top_k: int | None = None,
                       logit_bias: Mapping[str, float] | None = None) -> SamplingParams:
    """A field the request left out (None) takes `SamplingParams`' default, which is OpenAI's (and
    Anthropic's: temperature 1, no top-p / top-k cut).
    `logit_bias` is the wire's token-id strings, already checked (protocol.chat.check_logit_bias)."""
    given: dict[str, Any] = {"temperature": temperature, "top_p": top_p, "top_k": top_k}
    bias = tuple((int(token), float(value)) for token, value in (logit_bias or {}).items())
    return SamplingParams(**{name: value for name, value in given.items() if value is not None},
                          seed=seed, max_tokens=max_tokens, stop=stop_strings(stop), grammar=grammar,
                          logit_bias=bias)


def stop_strings(stop: str | Sequence[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    return (stop,) if isinstance(stop, str) else tuple(stop)
