"""The engine protocol: what the batcher needs from a model runtime, and nothing about HTTP or runs.

An engine owns the weights, the tokenizer and the KV memory of up to `max_sequences` sequences. It is
driven by exactly one thread (the batcher's): `add_sequence` queues a prompt, each `step()` runs ONE
forward pass over every live sequence (one token for each decoding sequence plus bounded chunks of
pending prompts) and returns the tokens it sampled, `remove_sequence` takes a sequence out at once.
Stopping rules (end-of-generation tokens, max_tokens, stop strings) belong to the batcher, not here.

gguf (llama-cpp-python) and mlx implement it; the types below are engine-neutral on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from assistants.protocol.common import DEFAULT_TEMPERATURE, DEFAULT_TOP_P

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class SamplingParams:
    """How one request samples. temperature 0 means greedy (argmax)."""

    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    top_k: int = 0
    """Sample among the k most likely tokens only; 0 means no such cut."""
    min_p: float | None = None
    """Sample only tokens at least this likely relative to the most likely one (before temperature, as
    llama.cpp's `min_p`); None: the server's `--min-p` (`Inference.generate`), 0 to an engine."""
    seed: int | None = None
    """Fixed seed: the same prompt and params reproduce the same output."""
    max_tokens: int | None = None
    """None means up to the end of the sequence's context."""
    stop: tuple[str, ...] = ()
    """Stop strings; the output ends before the first one and excludes it."""
    grammar: str | None = None
    """A GBNF grammar the output must follow (root rule `root`); engines whose
    `EngineLimits.constrained_decoding` is False never receive one (the request is refused first)."""
    logit_bias: tuple[tuple[int, float], ...] = ()
    """(token id, bias) pairs added to the logits before sampling; -100 effectively bans a token and
    +100 effectively forces it (validated at the API: ids within the vocabulary, biases -100..100)."""

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class ModelInfo:
    """What prompt rendering needs to know about the loaded model."""

    path: str
    architecture: str
    """`general.architecture` (e.g. gemma3, llama, qwen2): picks the fallback chat template."""
    chat_template: str | None
    """The model's own Jinja chat template, if the file carries one."""
    bos_token: str
    eos_token: str
    add_bos: bool
    """Whether the tokenizer prepends BOS to a plain prompt."""
    n_ctx_train: int
    n_vocab: int = 0
    n_embd: int = 0
    n_params: int = 0
    size: int = 0
    """Bytes of weights. These four feed /v1/models `meta` (llama-server's shape); 0 when unknown."""


@dataclass(frozen=True)
class StepRecord:
    """What one forward pass carried: kept in a bounded ring so tests can assert interleaving."""

    step: int
    decoded: tuple[int, ...]
    """Sequence ids that decoded (fed their last sampled token) in this step."""
    ingested: tuple[tuple[int, int], ...]
    """(sequence id, prompt tokens) ingested in this step."""
    sampled: tuple[int, ...] = ()
    """Sequence ids that got a new token sampled at the end of this step."""


@dataclass
class EngineLimits:
    max_sequences: int
    """Sequences decoded together; more requests wait in the batcher's queue."""
    n_ctx_seq: int
    """Most tokens (prompt + generated) one sequence may hold: the whole pool, or a configured cap."""
    n_ctx: int = 0
    """Cells of the KV pool all sequences share (0: the engine has no shared pool)."""
    extra: dict[str, int] = field(default_factory=dict)
    constrained_decoding: bool = True
    """Whether `SamplingParams.grammar` is enforced; without it such requests are refused, never
    decoded unconstrained."""


class EngineError(RuntimeError):
    """A failure of the runtime (decode failed, out of memory): surfaces to the affected requests."""


class Engine(Protocol):
    info: ModelInfo
    limits: EngineLimits

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        """Text to token ids. Must be safe to call from a thread other than the stepping one."""
        ...

    def token_bytes(self, token: int) -> bytes:
        """The UTF-8 bytes a token contributes to the output (a piece may split a character)."""
        ...

    def is_end_of_generation(self, token: int) -> bool:
        """EOS / end-of-turn tokens: generation stops there and the token is not output."""
        ...

    def add_sequence(self, seq_id: int, prompt: Sequence[int], params: SamplingParams,
                     cache_key: str | None = None) -> int:
        """Queue a prompt; it is ingested in chunks by the following steps, then decodes. Returns the
        prompt tokens reused from a cached prefix. `cache_key` (a thread id) names whose cache it
        prefers and is persisted under."""
        ...

    def admissible(self, requests: Sequence[tuple[int, int]]) -> int:
        """How many of these waiting (prompt tokens, max tokens) requests, oldest first, may join now."""
        ...

    def forget_cache(self, key: str) -> None:
        """Drop everything cached under `key` (its thread was deleted), in memory and on disk."""
        ...

    def remove_sequence(self, seq_id: int) -> None:
        """Forget a sequence (finished or cancelled); its memory is freed or kept as a cached prefix."""
        ...

    def step(self) -> list[tuple[int, int]]:
        """One forward pass over all live sequences; returns (seq_id, sampled token) pairs."""
        ...

    @property
    def live_sequences(self) -> int: ...

    def step_records(self) -> list[StepRecord]: ...

    def close(self) -> None: ...
