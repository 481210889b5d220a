"""`Inference`: the engine, its batcher and the chat template, as the rest of the server uses them.

Everything here is engine-neutral: the chat routes and the run worker call only this class.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assistants.errors import InvalidRequest, ServiceUnavailable, StartupError
from assistants.inference.batcher import Batcher, Generation
from assistants.inference.engine import Engine, ModelInfo, SamplingParams, StepRecord
from assistants.prompt import ChatTemplate, TemplateError
from assistants.settings import Settings

log = logging.getLogger("assistants.inference")


class ContextLengthExceeded(InvalidRequest):
    default_code = "context_length_exceeded"


MAX_ENGINE_ATTEMPTS = 10
"""Claims a run or background response may take while its engine keeps failing under it (each one
waits for the router's next probe first): minutes of an engine being away, not a retry storm."""


class EngineUnavailable(ServiceUnavailable):
    """No engine could decode the request (every remote engine down or unreachable). Not the
    request's fault: a chat client gets a 503 it may retry; a run is re-queued (runs.executor)."""

    default_code = "engine_unavailable"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = max(1, round(retry_after))
        """Seconds until an engine may be back (the soonest retry of the router's backoff)."""


class Inference:
    def __init__(self, engine: Engine, template: ChatTemplate, model_id: str, *,
                 max_output_tokens: int = 0, min_p: float = 0.0) -> None:
        self.engine = engine
        self.template = template
        self.model_id = model_id
        """The id the model is served under (`--model-alias`, else the file stem)."""
        self.max_output_tokens = max_output_tokens
        """Cap on an answer whose request sets no limit (`--max-output-tokens`; 0: the context's room)."""
        self.min_p = min_p
        """`SamplingParams.min_p` of a request that names none (`--min-p`)."""
        self.created = int(time.time())
        self.batcher = Batcher(engine)

    @classmethod
    async def start(cls, settings: Settings) -> Inference:
        """Load the configured model off the event loop (benchmarks; the server loads through `Models`)."""
        return await asyncio.to_thread(cls.load, settings)

    @classmethod
    def load(cls, settings: Settings) -> Inference:
        engine, path = _open_engine(settings)
        info = engine.info
        try:
            template = ChatTemplate.choose(
                architecture=info.architecture,
                model_template=info.chat_template,
                bos_token=info.bos_token,
                eos_token=info.eos_token,
                override=settings.chat_template,
            )
        except (OSError, TemplateError) as exc:
            engine.close()
            raise StartupError(f"chat template: {exc}") from exc
        model_id = settings.model_alias or Path(path).stem
        log.info(
            "serving %s (%s, chat template %s) as %r: %d sequences sharing %d KV cells, up to %d tokens each",
            path,
            info.architecture,
            template.origin,
            model_id,
            engine.limits.max_sequences,
            engine.limits.n_ctx,
            engine.limits.n_ctx_seq,
        )
        return cls(engine, template, model_id, max_output_tokens=settings.max_output_tokens,
                   min_p=settings.min_p)

    async def close(self) -> None:
        await asyncio.to_thread(self.batcher.close)
        if not self.batcher.running:  # never free the model under a decode still in flight
            self.engine.close()

    @property
    def busy(self) -> int:
        """Requests decoding or waiting in this model's batcher (the registry never unloads it then)."""
        return self.batcher.active + self.batcher.queued

    @property
    def ctx_size(self) -> int:
        """Tokens (prompt + completion) one request may use: the shared pool, or the per-sequence cap."""
        return self.engine.limits.n_ctx_seq

    @property
    def info(self) -> ModelInfo:
        return self.engine.info

    @property
    def slots(self) -> int:
        """Sequences decoded at once (`/props` total_slots, the slots gauge)."""
        return self.engine.limits.max_sequences

    @property
    def active(self) -> int:
        return self.batcher.active

    @property
    def queued(self) -> int:
        return self.batcher.queued

    def forget_cache(self, key: str) -> None:
        """Drop a thread's cached prefixes and files (the thread was deleted); returns at once."""
        self.batcher.call(lambda: self.engine.forget_cache(key))

    def render_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        """The prompt text for a conversation (raises `prompt.TemplateError` if the template refuses it)."""
        return self.template.render(messages, tools=tools, add_generation_prompt=add_generation_prompt)

    def tokenize(self, text: str, *, add_special: bool | None = None,
                 parse_special: bool = True) -> list[int]:
        """Token ids of `text`. `add_special` None: BOS as the model wants it, unless the text starts
        with it (a rendered chat prompt usually does: never a second one); True/False: llama-server's
        `/tokenize` sense (True adds BOS where the model's vocabulary asks for it)."""
        if add_special is None:
            bos = self.engine.info.bos_token
            add_special = self.engine.info.add_bos and not (bos and text.startswith(bos))
        return self.engine.tokenize(text, add_special=add_special, parse_special=parse_special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of token ids (llama-server's `/detokenize`); ids outside the vocabulary are a 400."""
        check_token_ids(tokens, self.engine.info.n_vocab, "tokens")
        return b"".join(self.engine.token_bytes(t) for t in tokens).decode("utf-8", errors="replace")

    def require_constrained_decoding(self, param: str) -> None:
        """A 400 naming `param` when this engine cannot enforce a grammar (structured outputs, forced
        tool calls): the request is refused, never decoded unconstrained."""
        if not self.engine.limits.constrained_decoding:
            raise InvalidRequest(
                f"`{param}` needs constrained decoding (json_object / json_schema outputs, forced tool "
                f"calls), which {type(self.engine).__name__} does not support; serve with --engine gguf.",
                param=param, code="unsupported_by_engine",
            )

    async def generate(self, prompt: str | list[int], params: SamplingParams,
                       cache_key: str | None = None) -> Generation:
        """Queue a prompt (text, or the token ids `tokenize` made of it); iterate the returned
        `Generation` for text pieces, then read `.result`. `cache_key` (a thread id) makes the engine
        prefer that thread's cached prefix and persist it.

        Raises `ContextLengthExceeded` (400) before queueing when prompt + max_tokens cannot fit, and
        `InvalidRequest` for a `logit_bias` token outside the vocabulary.
        """
        tokens = await asyncio.to_thread(self.tokenize, prompt) if isinstance(prompt, str) else prompt
        if not isinstance(prompt, str):
            check_token_ids(tokens, self.engine.info.n_vocab, "prompt")
        max_tokens = check_fits(self.ctx_size, len(tokens), params, self.engine.info.n_vocab,
                                default_max=self.max_output_tokens)
        return self.batcher.submit(tokens, with_min_p(params, self.min_p), max_tokens, cache_key)

    def debug_state(self) -> dict[str, Any]:
        """Live/queued counts and the recent step records (served on a debug route only with --debug)."""
        return {
            "live_sequences": self.engine.live_sequences,
            "active": self.batcher.active,
            "queued": self.batcher.queued,
            "steps": [_record(r) for r in self.engine.step_records()],
        }


def check_fits(ctx_size: int, prompt_tokens: int, params: SamplingParams, n_vocab: int, *,
               default_max: int = 0) -> int:
    """The max tokens a request of `prompt_tokens` may decode: its own `max_tokens`, else the room
    left in the context, capped at `default_max` (when not 0). 400 when it cannot fit the context or
    its `logit_bias` names a token outside the vocabulary (`n_vocab` 0: unknown, not checked)."""
    room = ctx_size - prompt_tokens
    wanted = params.max_tokens if params.max_tokens is not None else 1
    if not prompt_tokens or wanted > room:
        raise ContextLengthExceeded(
            f"This model's maximum context length per request is {ctx_size} tokens. However, you "
            f"requested {prompt_tokens + wanted} tokens ({prompt_tokens} in the messages, {wanted} in the "
            f"completion). Please reduce the length of the messages or completion.",
            param="messages",
        )
    outside = [token for token, _ in params.logit_bias if n_vocab and token >= n_vocab]
    if outside:
        raise InvalidRequest(
            f"Invalid key in 'logit_bias': token id {outside[0]} is outside this model's vocabulary "
            f"(0..{n_vocab - 1}).", param="logit_bias", code="invalid_value")
    if params.max_tokens is not None:
        return params.max_tokens
    return min(room, default_max) if default_max else room


def with_min_p(params: SamplingParams, default: float) -> SamplingParams:
    """The request's params with the server's min-p where it named none."""
    return params if params.min_p is not None else dataclasses.replace(params, min_p=default)


def check_token_ids(tokens: Sequence[int], n_vocab: int, param: str) -> None:
    bad = next((t for t in tokens if not 0 <= t < n_vocab), None) if n_vocab else None
    if bad is not None:
        raise InvalidRequest(f"Token id {bad} is outside this model's vocabulary (0..{n_vocab - 1}).",
                             param=param, code="invalid_value")


def _open_engine(settings: Settings) -> tuple[Engine, Path]:
    """The configured engine and the model path it serves; mlx is imported only when chosen."""
    from assistants.inference.bundled import ensure_bundled_model

    if settings.engine == "mlx":
        from assistants.inference.mlx.serve import open_mlx_engine

        return open_mlx_engine(settings)
    if settings.engine != "gguf":
        raise StartupError(f"the {settings.engine!r} engine is not available")
    from assistants.inference.gguf import GGUFEngine

    path = settings.model if settings.model is not None else ensure_bundled_model(settings.data_dir)
    if not Path(path).is_file():
        raise StartupError(f"model file not found: {path}")
    engine = GGUFEngine(
        Path(path),
        ctx_size=settings.ctx_size,
        parallel=settings.parallel,
        threads=settings.threads or os.cpu_count() or 1,
        ctx_size_per_seq=settings.ctx_size_per_seq or None,
        cache_slots=settings.kv_cache_slots,
        kv_cache_dir=settings.data_dir / "kvcache",
        kv_cache_disk=settings.kv_cache_disk * 1024 * 1024,
        progress=True,
    )
    return engine, Path(path)


def _record(record: StepRecord) -> dict[str, Any]:
    return {
        "step": record.step,
        "decoded": list(record.decoded),
        "sampled": list(record.sampled),
        "ingested": [list(pair) for pair in record.ingested],
    }
