"""The GGUF engine: llama-cpp-python's low-level API, one `llama_decode` per step for every sequence.

Each step carries one token for every decoding sequence plus a chunk of each pending prompt, oldest
first, within a budget of prompt tokens: `prompt_budget` (`PROMPT_BUDGET`, 512) while nothing decodes,
`beside_budget` (default `prompt_chunk`, 128) beside decoders. So prompts arriving together start in
one step, a long prompt alone advances 512 tokens a step, and decoders wait for at most 128 a step
(n_batch = n_ubatch = budget + parallel: a step is one ubatch). One prompt of 128 tokens per step made
8 prompts arriving together take 8 steps before the last one's first token, and a 2,400-token prompt
19 steps. Why two budgets: a prompt token costs about what a decode token does and a step's own
overhead is small, so beside decoders a bigger budget slows them in proportion and hardly speeds the
prompt (benchmarks/prefill.py).

Batch invariance: a greedy (or seeded) request should give the same text alone or under load, so
the llama.cpp CPU paths that make a sequence's logits depend on its batch neighbours are avoided where
they can be (measured on the bundled Gemma: up to 0.6 logit difference otherwise):
- repacked weights (`use_extra_bufts`): a 1-column matmul (gemv) and a 4-column one (gemm) round
  differently. Without repacking decode was no slower here (faster at 8 sequences); prompt
  ingestion ~15 % slower.
- the ubatch's size: below 64 tokens, how many tokens a ubatch holds changes the values it computes
  (the first-token logits of one 400-token prompt whose last chunk held 1..63 tokens differed for every
  size, by up to 2.1; 64 tokens and more agreed to the bit, whatever the chunking before). Neighbours
  in a ubatch change a prompt's values only that way (two 20-token prompts together matched each alone;
  a 44-token tail beside a 72-token one did not). So a prompt's tail, its tokens after the last multiple
  of `prompt_chunk`, is always a chunk of its own (`_chunk`): alone, the ubatch computing its last token
  holds the same tokens whether it was prefilled cold or from a cached prefix, which is reused to a
  multiple of `prompt_chunk` (kvcache.PrefixCache.align).
A request alone is bit-reproducible while the KV pool spans the same cells, and so is the same set of
requests admitted together in the same order. The span matters because llama.cpp's CPU flash attention
splits a lone decoding token's attention between the threads at a fraction of the span (`n_kv`: the used
cells rounded up to 256, once 512 or more), so cached prefixes of other requests that widen it move
the split and can flip a near-tie (benchmarks/engine_knobs.py, 2026-12-01: 7 of 8 texts equal alone
twice; 8 of 8 with one thread, flash attention off or q8_0 KV, which take other paths and were slower).
Under other load greedy near-ties flip more (benchmarks/invariance.py), chiefly because a small
ubatch's size depends on its neighbours and attention sums over the shared KV buffer, whose layout
depends on them too; as with llama.cpp's server, batching trades bit-exactness under load for speed.

The KV cache is one unified buffer (`kv_unified=True`) shared by every sequence: a sequence may grow to
the whole pool (or the `ctx_size_per_seq` cap), and cells are handed out by `kvpool.KVPool`: admission
by free cells, finished sequences kept as cached prefixes for reuse (`kvcache.py`), eviction and
preemption when the pool runs out. Per-sequence streams (`kv_unified=False`) made llama.cpp split a
mixed batch by stream, and 8 decoding sequences ran at 1.07x one sequence's rate instead of 1.96x
(benchmarks/throughput.py, same run); they were not batch-invariant either (3/8 then 8/8 equal in two
rounds). Sampling reads the logits rows with numpy (see `sampling.py`): llama.cpp's sampler chain would
build a 262k-candidate array per sequence per step.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp as L
import numpy as np

from assistants import metrics
from assistants.inference import kvdisk
from assistants.inference.engine import EngineError, EngineLimits, ModelInfo, SamplingParams, StepRecord
from assistants.inference.grammar import GrammarSampler, hidden_tokens, single_char_tokens
from assistants.inference.kvpool import KVPool, llama_seq_ids
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
    """The batcher's id for it."""
    tokens: list[int]
    """Prompt, then every token fed after it: position i of its KV holds tokens[i] once ingested."""
    sampler: Sampler | GrammarSampler
    key: str | None
    reserve: int
    """Cells counted for its answer at admission."""
    order: int
    """Admission order: the youngest live sequence is preempted first."""
    prompt_len: int = 0
    kv: int | None = None
    """Its llama.cpp sequence id while it holds KV cells (None while preempted)."""
    cells: list[int] = field(default_factory=list)
    swa_floor: int = 0
    """Inherited from the cached prefix it started from (see kvcache.py)."""
    ingested: int = 0
    """Tokens of `tokens` already in the KV cache."""
    last_token: int | None = None
    """The token sampled last, fed at the next step (None while the prompt is still being ingested)."""
    resume: int | None = None
    """A preempted sequence's sampled, not yet fed token: fed once its tokens are ingested again."""
    logit_row: int = -1

    @property
    def footprint(self) -> int:
        """Cells it may hold: its tokens and what is left of its answer's reserve (admission counts)."""
        return len(self.tokens) + max(0, self.reserve - (len(self.tokens) - self.prompt_len))


PROMPT_BUDGET = 512
"""Prompt tokens a step ingests at most while no sequence decodes (beside decoders: `prompt_chunk`,
128).
Measured with benchmarks/prefill.py (one thread, CPU seconds; 2026-12-01, a loaded machine): a
2,189-token prefill cost the same CPU at budgets 128 to 1024 (7.4-8.0 s) and a step's own overhead is
~14 ms, while 8 decoders beside a long prompt got 1.06x / 0.63x / 0.49x / 0.35x the one-prompt-per-step
engine's tokens per CPU second at 128 / 256 / 512 / 1024 when that budget applied beside them too
(each step held them longer, the prompt barely sooner). 512 is llama-server's n_ubatch; while nothing
decodes, nobody waits on a step's size."""

ADMISSION_RESERVE = 256
"""Cells a request's answer is counted for at admission (less if it asks for fewer tokens). Longer
answers take free or evictable cells as they grow; when there are none the youngest is preempted."""


class GGUFEngine:
    """Implements `assistants.inference.engine.Engine` over a GGUF file."""

    def __init__(
        self,
        path: Path,
        *,
        ctx_size: int,
        parallel: int,
        threads: int,
        ctx_size_per_seq: int | None = None,
        cache_slots: int | None = None,
        kv_cache_dir: Path | None = None,
        kv_cache_disk: int = 0,
        prompt_chunk: int = 128,
        prompt_budget: int = PROMPT_BUDGET,
        beside_budget: int | None = None,
        record_steps: int = 512,
        verbose: bool = False,
        progress: bool = False,
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        beside_budget = prompt_chunk if beside_budget is None else beside_budget
        if not prompt_chunk <= beside_budget <= prompt_budget:
            raise ValueError("need prompt_chunk <= beside_budget <= prompt_budget")
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
        self.prompt_budget = prompt_budget
        self.beside_budget = beside_budget
        n_batch = prompt_budget + parallel  # one ubatch a step: every decoder and the whole budget
        # Cached prefixes need llama.cpp sequence ids of their own beside the live ones.
        cache_slots = 2 * parallel if cache_slots is None else cache_slots
        n_swa = int(L.llama_model_n_swa(self._model))
        n_seqs = parallel + max(cache_slots, 1)
        while llama_seq_ids(n_seqs, n_swa) > 256:  # llama.cpp's LLAMA_MAX_SEQ
            n_seqs -= 1
        if n_seqs <= parallel:
            L.llama_model_free(self._model)
            raise EngineError(f"--parallel {parallel} is more sequences than llama.cpp can hold")
        params = L.llama_context_default_params()
        params.n_ctx = ctx_size
        params.n_seq_max = llama_seq_ids(n_seqs, n_swa)
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = True  # one buffer, one ubatch for all sequences: see the module docstring
        params.swa_full = True  # sliding-window layers keep every position: prefixes stay reusable
        params.no_perf = True
        self._ctx = L.llama_init_from_model(self._model, params)
        if not self._ctx:
            L.llama_model_free(self._model)
            raise EngineError(f"could not create a context of {ctx_size} tokens for {parallel} sequences")
        self._batch = L.llama_batch_init(n_batch, 0, 2)  # a token may carry its sequence's twin id
        self._n_batch = n_batch
        n_cells = int(L.llama_n_ctx(self._ctx))
        n_ctx_seq = min(n_cells, ctx_size_per_seq) if ctx_size_per_seq else n_cells
        self.limits = EngineLimits(max_sequences=parallel, n_ctx_seq=n_ctx_seq, n_ctx=n_cells)
        self.info = self._read_info(path)
        disk = None
        if kv_cache_dir is not None and kv_cache_disk > 0 and cache_slots > 0:
            stat = path.stat()
            key = kvdisk.fingerprint(path.resolve(), stat.st_size, stat.st_mtime_ns, n_cells, params.type_k,
                                     params.type_v, params.swa_full, L.__version__)
            disk = kvdisk.DiskCache(kv_cache_dir / key, kv_cache_disk)
        self.pool = KVPool(self._ctx, n_cells=n_cells, n_seqs=n_seqs, n_swa=n_swa,
                           bytes_per_cell=self._kv_bytes_per_cell(), disk=disk, enabled=cache_slots > 0,
                           align=self.prompt_chunk)
        self._sequences: dict[int, _Sequence] = {}
        self._pending: deque[_Sequence] = deque()
        self._preempted: deque[_Sequence] = deque()
        self._admitted = 0
        self._records: deque[StepRecord] = deque(maxlen=record_steps)
        self._step_number = 0
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._single_chars: list[int] | None = None  # for grammar sampling, computed on first use
        self._hidden: np.ndarray | None = None  # likewise

    def _kv_bytes_per_cell(self) -> int:
        """f16 K and V of every layer for one position (what a cached token costs the pool)."""
        arch = self._meta("general.architecture") or ""
        n_head = max(int(L.llama_model_n_head(self._model)), 1)
        head_k = (int(self._meta(f"{arch}.attention.key_length") or 0)
                  or int(L.llama_model_n_embd(self._model)) // n_head)
        head_v = int(self._meta(f"{arch}.attention.value_length") or 0) or head_k
        layers, kv_heads = int(L.llama_model_n_layer(self._model)), int(L.llama_model_n_head_kv(self._model))
        return layers * kv_heads * (head_k + head_v) * 2

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

    def add_sequence(self, seq_id: int, prompt: Sequence[int], params: SamplingParams,
                     cache_key: str | None = None) -> int:
        """Returns the prompt tokens reused from a cached prefix."""
        if not 0 <= seq_id < self.limits.max_sequences or seq_id in self._sequences:
            raise EngineError(f"sequence id {seq_id} is not free")
        if not prompt or len(prompt) >= self.limits.n_ctx_seq:
            raise EngineError(f"a prompt must have 1..{self.limits.n_ctx_seq - 1} tokens, got {len(prompt)}")
        wanted = params.max_tokens if params.max_tokens is not None else ADMISSION_RESERVE
        self._admitted += 1
        sequence = _Sequence(seq_id, list(prompt), self._sampler(params), cache_key,
                             reserve=min(wanted, ADMISSION_RESERVE), order=self._admitted,
                             prompt_len=len(prompt))
        self._sequences[seq_id] = sequence
        if self._preempted:  # they were here first
            self._preempted.append(sequence)
            return 0
        return self._claim(sequence)

    def _claim(self, sequence: _Sequence) -> int:
        # A preempted sequence needs no logits at the end of its tokens: it holds its next token.
        claim = self.pool.claim(sequence.tokens, sequence.key, whole=sequence.resume is not None)
        sequence.kv, sequence.cells, sequence.ingested = claim.seq, claim.cells, claim.reused
        sequence.swa_floor = claim.swa_floor
        if sequence.ingested == len(sequence.tokens):
            sequence.last_token, sequence.resume = sequence.resume, None
        else:
            self._pending.append(sequence)
        return claim.reused

    def admissible(self, requests: Sequence[tuple[int, int]]) -> int:
        """How many of the waiting (prompt tokens, max tokens) requests, oldest first, may join now:
        every live sequence's tokens and answer reserve, and theirs, must fit the pool. Cached prefixes
        do not count: they are evicted for live ones. Nothing joins while a preempted one waits."""
        if self._preempted:
            return 0
        room = self.limits.n_ctx - sum(s.footprint for s in self._sequences.values())
        count = 0
        for prompt_tokens, max_tokens in requests:
            cost = prompt_tokens + min(max_tokens, ADMISSION_RESERVE)
            if cost > room and (count or self._sequences):
                break
            room -= cost
            count += 1
        return count

    def forget_cache(self, key: str) -> None:
        self.pool.forget(key)

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
        if sequence in self._preempted:
            self._preempted.remove(sequence)
        if sequence.kv is not None:
            self.pool.keep(sequence.kv, sequence.tokens[:sequence.ingested], sequence.cells, sequence.key,
                           sequence.swa_floor)
            sequence.kv = None

    def step(self) -> list[tuple[int, int]]:
        self._readmit()
        decoding, chunks = self._plan()
        while not self.pool.make_room(len(decoding) + sum(n for _, n in chunks)):
            self._preempt_youngest()
            decoding, chunks = self._plan()
        batch = self._batch
        n = 0
        outputs: list[_Sequence] = []
        for sequence in decoding:
            assert sequence.last_token is not None and sequence.kv is not None
            pos = len(sequence.tokens)
            if pos >= self.limits.n_ctx_seq:
                raise EngineError(f"sequence {sequence.seq_id} ran out of context")
            self._put(n, sequence.last_token, pos, sequence.kv, True)
            sequence.tokens.append(sequence.last_token)
            self.pool.ledger.grow(sequence.cells, 1)
            sequence.ingested += 1
            sequence.logit_row = n
            outputs.append(sequence)
            n += 1
        resumed: list[_Sequence] = []
        for sequence, chunk in chunks:
            assert sequence.kv is not None
            start = sequence.ingested
            end = start + chunk
            for index in range(start, end):
                last = index == len(sequence.tokens) - 1 and sequence.resume is None
                self._put(n, sequence.tokens[index], index, sequence.kv, last)
                if last:
                    sequence.logit_row = n
                    outputs.append(sequence)
                n += 1
            self.pool.ledger.grow(sequence.cells, chunk)
            sequence.ingested = end
            if end == len(sequence.tokens) and sequence.resume is not None:
                resumed.append(sequence)
        if n == 0:
            return []
        batch.n_tokens = n
        status = L.llama_decode(self._ctx, batch)
        if status != 0:
            # This step's positions are not trustworthy: forget them, so no cached prefix holds them.
            for sequence in decoding:
                self._rewind(sequence, len(sequence.tokens) - 1)
                del sequence.tokens[-1]
            for sequence, chunk in chunks:
                self._rewind(sequence, sequence.ingested - chunk)
            raise EngineError(f"llama_decode failed with status {status}")
        for sequence in resumed:  # re-ingested after preemption: decode its held token from here on
            self._pending.remove(sequence)
            sequence.last_token, sequence.resume = sequence.resume, None
        sampled: list[tuple[int, int]] = []
        for sequence in outputs:
            row = np.ctypeslib.as_array(
                L.llama_get_logits_ith(self._ctx, sequence.logit_row), shape=(self.n_vocab,)
            )
            token = sequence.sampler.sample(row)
            if sequence.last_token is None:  # the prompt just finished: decode from here on
                self._pending.remove(sequence)
            sequence.last_token = token
            sampled.append((sequence.seq_id, token))
        self._step_number += 1
        self._records.append(
            StepRecord(
                step=self._step_number,
                decoded=tuple(s.seq_id for s in decoding),
                ingested=tuple((s.seq_id, chunk) for s, chunk in chunks),
                sampled=tuple(seq for seq, _ in sampled),
            )
        )
        return sampled

    def _rewind(self, sequence: _Sequence, keep: int) -> None:
        assert sequence.kv is not None
        self.pool.trim(sequence.kv, sequence.cells, keep)
        sequence.ingested = keep

    def _plan(self) -> tuple[list[_Sequence], list[tuple[_Sequence, int]]]:
        """The sequences that decode this step, and the pending prompts' chunks ingested beside them,
        oldest prompt first: `prompt_budget` tokens at most, `beside_budget` beside decoders."""
        decoding = [s for s in self._sequences.values() if s.last_token is not None and s.kv is not None]
        chunks: list[tuple[_Sequence, int]] = []
        room = self.beside_budget if decoding else self.prompt_budget
        for sequence in self._pending:
            if room == 0:
                break
            chunk = self._chunk(sequence, room)
            if chunk:
                chunks.append((sequence, chunk))
                room -= chunk
        return decoding, chunks

    def _chunk(self, sequence: _Sequence, room: int) -> int:
        """How many of its prompt tokens a pending sequence ingests this step, given `room` left: as
        many as fit up to its tail, then its tail alone (see the module docstring on the ubatch's size)."""
        start, end = sequence.ingested, len(sequence.tokens)
        tail = max(start, (end - 1) // self.prompt_chunk * self.prompt_chunk)
        if start < tail:
            return min(room, tail - start)
        return end - start if end - start <= room else 0  # the tail waits for a step with room

    def _preempt_youngest(self) -> None:
        """The pool is full of live sequences: the youngest gives its cells back (they stay cached as
        long as nobody needs them) and waits to be re-admitted; its sampler and held token are kept,
        so it carries on where it stopped. Decoding never fails for want of cells."""
        holders = [s for s in self._sequences.values() if s.kv is not None]
        if len(holders) <= 1:
            raise EngineError("the KV cache cannot hold even one sequence")  # the context checks forbid it
        victim = max(holders, key=lambda s: s.order)
        log.info("KV pool full: sequence %s (%d tokens) preempted, re-admitted when cells free up",
                 victim.seq_id, len(victim.tokens))
        metrics.observe_kv_preemption()
        if victim in self._pending:
            self._pending.remove(victim)
        assert victim.kv is not None
        self.pool.keep(victim.kv, victim.tokens[:victim.ingested], victim.cells, None, victim.swa_floor)
        victim.kv, victim.cells = None, []
        if victim.last_token is not None:
            victim.resume, victim.last_token = victim.last_token, None
        victim.ingested = 0
        self._preempted.append(victim)

    def _readmit(self) -> None:
        while self._preempted:
            oldest = min(self._preempted, key=lambda s: s.order)
            live = sum(s.footprint for s in self._sequences.values() if s.kv is not None)
            if live and live + oldest.footprint > self.limits.n_ctx:
                return
            self._preempted.remove(oldest)
            self._claim(oldest)
            if oldest in self._pending:  # ahead of prompts that arrived after it
                self._pending.remove(oldest)
                self._pending.appendleft(oldest)

    def _put(self, i: int, token: int, pos: int, seq_id: int, logits: bool) -> None:
        batch = self._batch
        batch.token[i] = token
        batch.pos[i] = pos
        batch.seq_id[i][0] = seq_id
        if self.pool.twins:
            batch.n_seq_id[i] = 2
            batch.seq_id[i][1] = self.pool.twin(seq_id)
        else:
            batch.n_seq_id[i] = 1
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
        self.pool.close()
        L.llama_batch_free(self._batch)
        L.llama_free(self._ctx)
        L.llama_model_free(self._model)
