"""The GGUF engine: llama-cpp-python's low-level API, one `llama_decode` per step for every sequence.

Each step carries one token for every decoding sequence plus a chunk of the oldest pending prompt
(at most `prompt_chunk` tokens), so a long prompt never freezes the decoders.

Batch invariance: a greedy (or seeded) request should give the same text alone or under load, so
two llama.cpp CPU paths that make a sequence's logits depend on its batch neighbours are avoided
(measured on the bundled Gemma: up to 0.6 logit difference otherwise):
- repacked weights (`use_extra_bufts`): a 1-column matmul (gemv) and a 4-column one (gemm) round
  differently. Without repacking decode was no slower here (faster at 8 sequences); prompt
  ingestion ~15 % slower.
- two prompts ingested in one ubatch changed the second prompt's values: so one prompt per step
  (FIFO); a chunk of a long prompt has the same boundaries whether or not others decode beside it.
A request alone is bit-reproducible, and so is the same set of requests arriving together. Under
other load greedy near-ties still flip (benchmarks/invariance.py, 48 tokens: 3/4 and 1/8 concurrent
texts equal their solo text), chiefly because attention sums over the shared KV buffer, whose layout
depends on the neighbours; as with llama.cpp's server, batching trades bit-exactness under load for speed.

The KV cache is one unified buffer (`kv_unified=True`); fairness is ours: each sequence may use
ctx_size / parallel cells, so all `parallel` sequences always fit together. Per-sequence streams
(`kv_unified=False`) made llama.cpp split a mixed batch by stream, and 8 decoding sequences ran at
1.07x one sequence's rate instead of 1.96x (benchmarks/throughput.py, same run); they were not
batch-invariant either (3/8 then 8/8 equal in two rounds). A sequence's cells are freed with
`llama_memory_seq_rm` the moment it leaves. Sampling reads the logits rows with numpy (see
`sampling.py`): llama.cpp's sampler chain would build a 262k-candidate array per sequence per step.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp as L
import numpy as np

from assistants.inference.engine import EngineError, EngineLimits, ModelInfo, SamplingParams, StepRecord
from assistants.inference.grammar import GrammarSampler, hidden_tokens, single_char_tokens
from assistants.inference.sampling import Sampler

log = logging.getLogger("assistants.inference.gguf")

_backend_lock = threading.Lock()
_backend_ready = False


def _init_backend(verbose: bool) -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            from llama_cpp import _logger

            _logger.set_verbose(verbose)
            L.llama_backend_init()
            _backend_ready = True


@contextmanager
def load_progress(path: Path, *, enabled: bool) -> Iterator[Any]:
    """llama.cpp's load-progress callback driving a tqdm bar on stderr (None when disabled)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=100, desc=f"loading {path.name}", unit="%", file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}") as bar:

        def report(fraction: float, _user_data: Any) -> bool:
            bar.update(max(0, round(fraction * 100) - bar.n))
            return True  # keep loading

        # Kept referenced until loading returns: ctypes does not keep callbacks alive.
        yield L.llama_progress_callback(report)


@dataclass(eq=False)
class _Sequence:
    seq_id: int
    prompt: list[int]
    sampler: Sampler | GrammarSampler
    ingested: int = 0
    """Prompt tokens already in the KV cache."""
    last_token: int | None = None
    """The token sampled last, fed at the next step (None while the prompt is still being ingested)."""
    pos: int = 0
    """Position of the next token to feed."""
    logit_row: int = -1


class GGUFEngine:
    """Implements `assistants.inference.engine.Engine` over a GGUF file."""

    def __init__(
        self,
        path: Path,
        *,
        ctx_size: int,
        parallel: int,
        threads: int,
        prompt_chunk: int = 128,
        record_steps: int = 512,
        verbose: bool = False,
        progress: bool = False,
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        _init_backend(verbose)
        self._closed = False
        model_params = L.llama_model_default_params()
        model_params.use_extra_bufts = False  # no weight repacking: see the module docstring
        with load_progress(path, enabled=progress) as callback:
            if callback is not None:  # the ctypes field takes a callback, never None
                model_params.progress_callback = callback
            self._model = L.llama_model_load_from_file(str(path).encode(), model_params)
        if not self._model:
            raise EngineError(f"could not load the model file {path}")
        self._vocab = L.llama_model_get_vocab(self._model)
        self.n_vocab = L.llama_vocab_n_tokens(self._vocab)
        self.prompt_chunk = prompt_chunk
        n_batch = prompt_chunk + parallel
        params = L.llama_context_default_params()
        params.n_ctx = ctx_size
        params.n_seq_max = parallel
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = True  # one buffer, one ubatch for all sequences: see the module docstring
        params.no_perf = True
        self._ctx = L.llama_init_from_model(self._model, params)
        if not self._ctx:
            L.llama_model_free(self._model)
            raise EngineError(f"could not create a context of {ctx_size} tokens for {parallel} sequences")
        self._memory = L.llama_get_memory(self._ctx)
        self._batch = L.llama_batch_init(n_batch, 0, 1)
        self._n_batch = n_batch
        n_ctx_seq = int(L.llama_n_ctx(self._ctx)) // parallel
        self.limits = EngineLimits(max_sequences=parallel, n_ctx_seq=n_ctx_seq)
        self.info = self._read_info(path)
        self._sequences: dict[int, _Sequence] = {}
        self._pending: deque[_Sequence] = deque()
        self._records: deque[StepRecord] = deque(maxlen=record_steps)
        self._step_number = 0
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._single_chars: list[int] | None = None  # for grammar sampling, computed on first use
        self._hidden: np.ndarray | None = None  # likewise

    def _read_info(self, path: Path) -> ModelInfo:
        template = L.llama_model_chat_template(self._model, None)
        bos = L.llama_vocab_bos(self._vocab)
        eos = L.llama_vocab_eos(self._vocab)
        return ModelInfo(
            path=str(path),
            architecture=self._meta("general.architecture") or "unknown",
            chat_template=template.decode("utf-8", "replace") if template else None,
            bos_token=self._token_text(bos),
            eos_token=self._token_text(eos),
            add_bos=bool(L.llama_vocab_get_add_bos(self._vocab)),
            n_ctx_train=int(L.llama_model_n_ctx_train(self._model)),
            n_vocab=int(self.n_vocab),
            n_embd=int(L.llama_model_n_embd(self._model)),
            n_params=int(L.llama_model_n_params(self._model)),
            size=int(L.llama_model_size(self._model)),
        )

    def _meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1024)
        n = L.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        text = L.llama_vocab_get_text(self._vocab, token)
        return text.decode("utf-8", "replace") if text else ""

    # -- tokenizer (any thread) -----------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        tokens = (L.llama_token * capacity)()
        n = L.llama_tokenize(self._vocab, data, len(data), tokens, capacity, add_special, parse_special)
        if n < 0:
            capacity = -n
            tokens = (L.llama_token * capacity)()
            n = L.llama_tokenize(self._vocab, data, len(data), tokens, capacity, add_special, parse_special)
        return list(tokens[:n])

    def token_bytes(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            piece = buf.raw[:n]
            self._pieces[token] = piece
        return piece

    def is_end_of_generation(self, token: int) -> bool:
        eog = self._eog.get(token)
        if eog is None:
            eog = self._eog[token] = bool(L.llama_vocab_is_eog(self._vocab, token))
        return eog

    # -- sequences (engine thread only) -----------------------------------------------------------

    def add_sequence(self, seq_id: int, prompt: Sequence[int], params: SamplingParams) -> None:
        if not 0 <= seq_id < self.limits.max_sequences or seq_id in self._sequences:
            raise EngineError(f"sequence id {seq_id} is not free")
        if not prompt or len(prompt) >= self.limits.n_ctx_seq:
            raise EngineError(f"a prompt must have 1..{self.limits.n_ctx_seq - 1} tokens, got {len(prompt)}")
        sequence = _Sequence(seq_id, list(prompt), self._sampler(params))
        self._sequences[seq_id] = sequence
        self._pending.append(sequence)

    def _sampler(self, params: SamplingParams) -> Sampler | GrammarSampler:
        # Constrained decoding (tools, response_format): only these sequences pay for a grammar.
        if params.grammar is None:
            return Sampler(params, self.n_vocab)
        ends = [t for t in (L.llama_vocab_eos(self._vocab), L.llama_vocab_eot(self._vocab)) if t >= 0]
        if self._single_chars is None:
            self._single_chars = single_char_tokens(
                lambda text: self.tokenize(text, add_special=False, parse_special=False))
        if self._hidden is None:
            self._hidden = hidden_tokens(self._vocab, self.n_vocab)
        return GrammarSampler(self._vocab, params, self.n_vocab, ends, single_chars=self._single_chars,
                              hidden=self._hidden)

    def remove_sequence(self, seq_id: int) -> None:
        sequence = self._sequences.pop(seq_id, None)
        if sequence is None:
            return
        if isinstance(sequence.sampler, GrammarSampler):
            sequence.sampler.close()
        if sequence in self._pending:
            self._pending.remove(sequence)
        L.llama_memory_seq_rm(self._memory, seq_id, -1, -1)

    def step(self) -> list[tuple[int, int]]:
        batch = self._batch
        n = 0
        decoding: list[_Sequence] = []
        outputs: list[_Sequence] = []
        for sequence in self._sequences.values():
            if sequence.last_token is None:
                continue
            if sequence.pos >= self.limits.n_ctx_seq:
                raise EngineError(f"sequence {sequence.seq_id} ran out of context")
            self._put(n, sequence.last_token, sequence.pos, sequence.seq_id, True)
            sequence.logit_row = n
            sequence.pos += 1
            decoding.append(sequence)
            outputs.append(sequence)
            n += 1
        ingested: list[tuple[int, int]] = []
        if self._pending:  # one prompt per step: see the module docstring
            sequence = self._pending[0]
            start = sequence.ingested
            take = min(self.prompt_chunk, len(sequence.prompt) - start)
            for index in range(start, start + take):
                last = index == len(sequence.prompt) - 1
                self._put(n, sequence.prompt[index], index, sequence.seq_id, last)
                if last:
                    sequence.logit_row = n
                    outputs.append(sequence)
                n += 1
            sequence.ingested += take
            ingested.append((sequence.seq_id, take))
        if n == 0:
            return []
        batch.n_tokens = n
        status = L.llama_decode(self._ctx, batch)
        if status != 0:
            raise EngineError(f"llama_decode failed with status {status}")
        sampled: list[tuple[int, int]] = []
        for sequence in outputs:
            row = np.ctypeslib.as_array(
                L.llama_get_logits_ith(self._ctx, sequence.logit_row), shape=(self.n_vocab,)
            )
            token = sequence.sampler.sample(row)
            if sequence.last_token is None:  # the prompt just finished: decode from here on
                self._pending.remove(sequence)
                sequence.pos = len(sequence.prompt)
            sequence.last_token = token
            sampled.append((sequence.seq_id, token))
        self._step_number += 1
        self._records.append(
            StepRecord(
                step=self._step_number,
                decoded=tuple(s.seq_id for s in decoding),
                ingested=tuple(ingested),
                sampled=tuple(seq for seq, _ in sampled),
            )
        )
        return sampled

    def _put(self, i: int, token: int, pos: int, seq_id: int, logits: bool) -> None:
        batch = self._batch
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq_id
        batch.logits[i] = logits

    @property
    def live_sequences(self) -> int:
        return len(self._sequences)

    def step_records(self) -> list[StepRecord]:
        return list(self._records)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        L.llama_batch_free(self._batch)
        L.llama_free(self._ctx)
        L.llama_model_free(self._model)
