"""The MLX engine: `assistants.inference.engine.Engine` over mlx-lm's `BatchGenerator`.

The batcher drives it exactly as it drives the GGUF engine: `add_sequence` queues a prompt, each
`step()` is one `BatchGenerator.next()` (one decode step for every generating sequence plus chunks of
pending prompts, at most `prompt_chunk` token slots of prompt work in all: see admission.py),
`remove_sequence` drops a sequence, queued or in the generator, at once. Stopping stays with the
batcher: the generator gets no stop tokens and a max_tokens beyond the sequence's context, so it never
ends a sequence on its own.

Sampling: greedy sequences use the generator's shared sampler, one batched argmax over the batch. A
sampling sequence gets its own sampler holding its own PRNG key (mx.random's state is global, so a
seed would otherwise be shared by every sequence in the batch): the same seed reproduces its draws.
`logit_bias` is mlx-lm's own logits processor, applied to that sequence's row before either sampler.

Prefix reuse (prefix.py): a prompt starts from the caches of the cached prefix it shares most with, and
only the rest is handed to the generator (`insert(caches=..., all_tokens=...)`); a removed sequence's
caches come back from the generator and are kept for the next prompt.

This module imports mlx; import it only when the mlx engine is chosen.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from assistants.inference import kvdisk
from assistants.inference.engine import EngineError, EngineLimits, ModelInfo, SamplingParams, StepRecord
from assistants.inference.mlx import use_optimized_blas
from assistants.inference.mlx.admission import admissible
from assistants.inference.mlx.pieces import end_of_generation_lookalikes, piece_table

use_optimized_blas()  # before mlx loads (see blas.py)

import mlx.core as mx  # noqa: E402
import mlx_lm  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402
from mlx_lm import load  # noqa: E402
from mlx_lm.generate import BatchGenerator  # noqa: E402
from mlx_lm.sample_utils import apply_min_p, apply_top_k, apply_top_p, make_logits_processors  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from assistants.inference.mlx.prefix import Caches, MlxPrefixCache, full_size_caches  # noqa: E402

log = logging.getLogger("assistants.inference.mlx")


def seeded_sampler(params: SamplingParams) -> Callable[[mx.array], mx.array]:
    """Temperature / min-p / top-k / top-p sampling with a PRNG key of its own (see the module docstring)."""
    seed = params.seed if params.seed is not None else int.from_bytes(os.urandom(4), "little")
    key = mx.random.key(seed)
    inverse_temperature = 1.0 / max(params.temperature, 1e-6)
    top_p, top_k, min_p = params.top_p, params.top_k, params.min_p or 0.0

    def sample(logprobs: mx.array) -> mx.array:
        nonlocal key
        key, sub = mx.random.split(key)
        if 0.0 < min_p <= 1.0:  # before temperature, as the GGUF engine's sampler
            logprobs = apply_min_p(logprobs, min_p)
        if 0 < top_k < logprobs.shape[-1]:
            logprobs = apply_top_k(logprobs, top_k)
        if 0.0 < top_p < 1.0:
            logprobs = apply_top_p(logprobs, top_p)
        return mx.random.categorical(logprobs * inverse_temperature, key=sub)

    return sample


@dataclass
class _Waiting:
    prompt: list[int]
    sampler: Callable[[mx.array], mx.array] | None
    processors: list[Any]
    caches: Caches | None
    """What it starts from: a cached prefix's caches, fresh full-size ones, or None (mlx-lm's own)."""
    reused: int
    """Prompt tokens already in `caches`."""


class MlxEngine:
    """Implements `assistants.inference.engine.Engine` over an mlx-lm model directory."""

    def __init__(
        self,
        path: Path,
        *,
        ctx_size: int,
        parallel: int,
        ctx_size_per_seq: int | None = None,
        cache_slots: int | None = None,
        kv_cache_dir: Path | None = None,
        kv_cache_disk: int = 0,
        prompt_chunk: int = 128,
        record_steps: int = 512,
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        path = Path(path)
        try:
            loaded = load(str(path))  # (model, tokenizer), plus the config when asked for it
            self._model, wrapper = loaded[0], loaded[1]
        except Exception as exc:
            raise EngineError(f"could not load the MLX model directory {path}: {exc}") from exc
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        tokenizer_config_path = path / "tokenizer_config.json"
        tokenizer_config = (json.loads(tokenizer_config_path.read_text(encoding="utf-8"))
                            if tokenizer_config_path.is_file() else {})
        # The Rust tokenizer is safe to call from the event loop's threads; mlx is not.
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        lookalikes = end_of_generation_lookalikes(path / "tokenizer.json")
        self._pieces = piece_table(path / "tokenizer.json", control=lookalikes)
        self._eog = frozenset(int(t) for t in wrapper.eos_token_ids) | lookalikes
        self.n_vocab = int(config.get("vocab_size") or len(self._pieces))
        params = cast(list[tuple[str, Any]], tree_flatten(self._model.parameters()))
        bos, eos = wrapper.bos_token or "", wrapper.eos_token or ""
        self.info = ModelInfo(
            path=str(path),
            architecture=str(config.get("model_type", "unknown")),
            chat_template=tokenizer_config.get("chat_template") or None,
            bos_token=bos,
            eos_token=eos,
            add_bos=bool(tokenizer_config.get("add_bos_token", False)),
            n_ctx_train=int(config.get("max_position_embeddings", 0)),
            n_vocab=self.n_vocab,
            n_embd=int(config.get("hidden_size", 0)),
            n_params=sum(int(v.size) for _, v in params),
            size=sum(int(v.nbytes) for _, v in params),
        )
        # mlx-lm grows each sequence's KV as it goes: there is no shared pool to admit by (n_ctx 0), and
        # a sequence may use the whole context.
        self.limits = EngineLimits(
            max_sequences=parallel, n_ctx_seq=max(min(ctx_size_per_seq or ctx_size, ctx_size), 2),
            constrained_decoding=False)
        self._generator = BatchGenerator(
            self._model,
            completion_batch_size=parallel,
            prefill_batch_size=parallel,  # admission.py decides what it may prefill side by side
            prefill_step_size=prompt_chunk,
        )
        self._prompt_chunk = prompt_chunk
        self.prefixes = self._open_prefix_cache(path, ctx_size, parallel, cache_slots, kv_cache_dir,
                                                kv_cache_disk)
        self._waiting: dict[int, _Waiting] = {}
        """Sequences not yet handed to the generator, in arrival order."""
        self._key_of: dict[int, str | None] = {}
        """Each live sequence's cache key (its thread), for the caches it leaves behind."""
        self._uid_of: dict[int, int] = {}
        self._seq_of: dict[int, int] = {}
        self._prompt_len: dict[int, int] = {}
        """Prompts in the generator whose last token is not fed yet."""
        self._progress: dict[int, int] = {}
        self._records: deque[StepRecord] = deque(maxlen=record_steps)
        self._step_number = 0
        self._closed = False

    def _open_prefix_cache(self, path: Path, ctx_size: int, parallel: int, cache_slots: int | None,
                           kv_cache_dir: Path | None, kv_cache_disk: int) -> MlxPrefixCache | None:
        slots = 2 * parallel if cache_slots is None else cache_slots
        layers = full_size_caches(self._model)
        if slots <= 0 or layers is None:
            if layers is None:
                log.info("the MLX model's caches cannot be trimmed: no prefix reuse")
            return None
        disk = None
        if kv_cache_dir is not None and kv_cache_disk > 0:
            files = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns)
                           for f in path.iterdir() if f.is_file())
            versions = (getattr(mlx_lm, "__version__", "?"), getattr(mx, "__version__", "?"))
            key = kvdisk.fingerprint("mlx", path.resolve(), files, versions)
            disk = kvdisk.DiskCache(kv_cache_dir / key, kv_cache_disk)
        return MlxPrefixCache(n_layers=len(layers), slots=slots, max_tokens=ctx_size,
                              align=self._prompt_chunk, disk=disk)

    # -- tokenizer (any thread) -----------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        # The tokenizers library always matches special-token text; parse_special=False is not offered.
        return list(self._tokenizer.encode(text, add_special_tokens=add_special).ids)

    def token_bytes(self, token: int) -> bytes:
        return self._pieces[token] if 0 <= token < len(self._pieces) else b""

    def is_end_of_generation(self, token: int) -> bool:
        return token in self._eog

    # -- sequences (engine thread only) ---------------------------------------------------------

    def add_sequence(self, seq_id: int, prompt: Sequence[int], params: SamplingParams,
                     cache_key: str | None = None) -> int:
        if params.grammar is not None:
            raise EngineError("grammar-constrained sampling is not supported by the mlx engine")
        if not 0 <= seq_id < self.limits.max_sequences or seq_id in self._uid_of or seq_id in self._waiting:
            raise EngineError(f"sequence id {seq_id} is not free")
        if not prompt or len(prompt) >= self.limits.n_ctx_seq:
            raise EngineError(f"a prompt must have 1..{self.limits.n_ctx_seq - 1} tokens, got {len(prompt)}")
        processors = make_logits_processors(logit_bias=dict(params.logit_bias)) if params.logit_bias else []
        caches, reused = None, 0
        if self.prefixes is not None:
            claim = self.prefixes.claim(prompt, cache_key)
            caches, reused = claim.caches, claim.reused
            if caches is None:
                caches = full_size_caches(self._model)
        self._waiting[seq_id] = _Waiting(list(prompt), None if params.greedy else seeded_sampler(params),
                                         processors, caches, reused)
        self._key_of[seq_id] = cache_key
        return reused

    def admissible(self, requests: Sequence[tuple[int, int]]) -> int:
        return len(requests)  # admission.py paces prefill; memory grows per sequence

    def forget_cache(self, key: str) -> None:
        if self.prefixes is not None:
            self.prefixes.forget(key)

    def remove_sequence(self, seq_id: int) -> None:
        key = self._key_of.pop(seq_id, None)
        if self._waiting.pop(seq_id, None) is not None:
            return  # the prefix it claimed is still cached (a claim slices, it takes nothing)
        uid = self._uid_of.pop(seq_id, None)
        if uid is None:
            return
        self._forget(uid)
        if self.prefixes is None:
            self._generator.remove([uid])
            return
        left = self._generator.remove([uid], return_prompt_caches=True).get(uid)
        if left is not None:  # (caches, the tokens they hold: prompt and fed answer tokens)
            caches, tokens = left
            self.prefixes.keep(list(tokens), cast(Caches, caches), key)

    def _forget(self, uid: int) -> None:
        self._seq_of.pop(uid, None)
        self._prompt_len.pop(uid, None)
        self._progress.pop(uid, None)

    def _admit(self) -> None:
        """Hand the generator the waiting prompts that fit this step's prompt budget (admission.py)."""
        if not self._waiting:
            return
        left = [max(n - 1 - self._progress[uid], 0) for uid, n in self._prompt_len.items()]
        rests = [len(w.prompt) - w.reused - 1 for w in self._waiting.values()]
        count = admissible(left, rests, self._prompt_chunk)
        for seq_id in list(self._waiting)[:count]:
            waiting = self._waiting.pop(seq_id)
            rest = waiting.prompt[waiting.reused:]  # the cached prefix is already in its caches
            (uid,) = self._generator.insert(
                [rest],
                max_tokens=[self.limits.n_ctx_seq + 1],  # never reached: the batcher ends sequences first
                caches=[waiting.caches] if waiting.caches is not None else None,
                all_tokens=[waiting.prompt[:waiting.reused]],
                samplers=[waiting.sampler],  # type: ignore[list-item]  # None: mlx-lm's default (greedy)
                logits_processors=[waiting.processors],
            )
            self._uid_of[seq_id] = uid
            self._seq_of[uid] = seq_id
            self._prompt_len[uid] = len(rest)
            self._progress[uid] = 0

    def step(self) -> list[tuple[int, int]]:
        if not self._uid_of and not self._waiting:
            return []
        self._admit()
        try:
            prompt_responses, responses = self._generator.next()
        except Exception as exc:
            raise EngineError(f"mlx step failed: {exc}") from exc
        ingested: list[tuple[int, int]] = []
        for response in prompt_responses:
            seq_id = self._seq_of.get(response.uid)
            if seq_id is None:
                continue
            done, total = (int(n) for n in response.progress)
            taken = done - self._progress.get(response.uid, 0)
            self._progress[response.uid] = done
            if done >= total:  # its last token was fed: it decodes from now on
                self._prompt_len.pop(response.uid, None)
            if taken > 0:
                ingested.append((seq_id, taken))
        sampled: list[tuple[int, int]] = []
        for response in responses:
            seq_id = self._seq_of.get(response.uid)
            if seq_id is None:
                continue
            sampled.append((seq_id, int(response.token)))
            if response.finish_reason is not None:  # only at the context's end: the generator dropped it
                self._uid_of.pop(seq_id, None)
                self._key_of.pop(seq_id, None)
                self._forget(response.uid)
        if sampled or ingested:
            self._step_number += 1
            ids = tuple(seq for seq, _ in sampled)
            self._records.append(StepRecord(self._step_number, ids, tuple(ingested), ids))
        return sampled

    @property
    def live_sequences(self) -> int:
        return len(self._uid_of) + len(self._waiting)

    def step_records(self) -> list[StepRecord]:
        return list(self._records)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._generator.close()
        if self.prefixes is not None:
            self.prefixes.close()
