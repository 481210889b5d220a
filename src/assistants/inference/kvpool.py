"""The GGUF engine's KV pool: llama.cpp sequence ids, cells, cached prefixes and their disk copies.

Only the engine thread calls it. A live sequence `claim`s a llama.cpp sequence id that already holds
the longest reusable prefix of its prompt: the cached prefix itself when the prompt extends it whole
(thread growth: the old entry is superseded), else a fresh id into which the prefix is `seq_cp`-ed (the
cells are shared, the entry stays for others). A finished sequence is `keep`-t as a cached prefix.
`make_room` evicts cached prefixes, least recently used first, until a step's tokens fit; live
sequences are the engine's business (it preempts when this returns False).

On disk (`kvdisk.py`): a keyed entry (a thread's) is written when it is kept, so a kill -9 loses at
most the turn in flight; a claim with a key whose entry is not in memory restores the file, checks its
tokens against the prompt and reuses what matches. Any failure clears the sequence and the prompt is
prefilled cold, with a log line: a bad file costs time, never correctness.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp as L

from assistants import metrics
from assistants.inference.kvcache import CachedPrefix, CellLedger, PrefixCache, common_prefix
from assistants.inference.kvdisk import DiskCache

log = logging.getLogger("assistants.inference.kvpool")


@dataclass
class Claim:
    seq: int
    cells: list[int]
    reused: int
    """Prompt tokens whose KV is already in the claimed sequence (positions 0..reused-1)."""
    swa_floor: int = 0
    restored: bool = False


def llama_seq_ids(n_seqs: int, n_swa: int) -> int:
    """The context's n_seq_max for `n_seqs` sequences: twice as many on an SWA model (the twins)."""
    return 2 * n_seqs if n_swa > 0 else n_seqs


class KVPool:
    def __init__(self, ctx: object, *, n_cells: int, n_seqs: int, n_swa: int, bytes_per_cell: int,
                 disk: DiskCache | None = None, enabled: bool = True, align: int = 1) -> None:
        self._ctx = ctx
        self._memory = L.llama_get_memory(ctx)
        self.ledger = CellLedger(n_cells)
        self.cache = PrefixCache(n_swa=n_swa, align=align)
        self.enabled = enabled
        self.disk = disk
        self.bytes_per_cell = bytes_per_cell
        self.n_swa = n_swa
        self._n_seqs = n_seqs
        self.twins = n_swa > 0
        """Every cell is also tagged with sequence id seq + n_seqs (see kvcache.py on SWA layers)."""
        self._free_seqs = list(range(n_seqs - 1, -1, -1))

    def twin(self, seq: int) -> int:
        return seq + self._n_seqs

    def _rm(self, seq: int, p0: int, p1: int) -> None:
        L.llama_memory_seq_rm(self._memory, seq, p0, p1)
        if self.twins:
            L.llama_memory_seq_rm(self._memory, self.twin(seq), p0, p1)

    def _cp(self, src: int, dst: int, p0: int, p1: int) -> None:
        L.llama_memory_seq_cp(self._memory, src, dst, p0, p1)
        if self.twins:
            L.llama_memory_seq_cp(self._memory, src, self.twin(dst), p0, p1)

    # -- claiming and giving back ------------------------------------------------------------------

    def claim(self, prompt: Sequence[int], key: str | None, *, whole: bool = False) -> Claim:
        """`whole`: the prompt may be reused to its last token (its logits are not needed)."""
        entry, n = self.cache.match(prompt, key, whole=whole) if self.enabled else (None, 0)
        if self.enabled and key is not None and self.disk is not None and (entry is None or entry.key != key):
            restored = self._restore(prompt, key, better_than=n)
            if restored is not None:
                return restored
        if entry is None:
            metrics.observe_kv_lookup("miss")
            return Claim(self._take_seq(), [], 0)
        metrics.observe_kv_lookup("hit")
        if n == len(entry.tokens):  # the prompt extends it whole: take its sequence over
            self.cache.pop(entry.seq)
            self._update_gauge()
            return Claim(entry.seq, entry.cells, n, entry.swa_floor)
        self.cache.touch(entry)
        seq = self._take_seq(spare=entry)
        self._cp(entry.seq, seq, 0, n)
        return Claim(seq, self.ledger.share(entry.cells[:n]), n, entry.swa_floor)

    def keep(self, seq: int, tokens: list[int], cells: list[int], key: str | None,
             swa_floor: int = 0) -> None:
        """A sequence left the batch: its cells stay as a cached prefix of `tokens` (or are freed)."""
        if not self.enabled or not tokens:
            self.free(seq, cells)
            return
        entry = CachedPrefix(seq, tokens, cells, key, swa_floor)
        # An older entry whose cells this one holds entirely (its own earlier turn) is superseded.
        for other in list(self.cache):
            n = len(other.tokens)
            if n <= len(tokens) and other.cells == cells[:n]:
                self._drop(other)
        self.cache.add(entry)
        if key is not None and self.disk is not None:
            self._save(entry)
        self._update_gauge()

    def free(self, seq: int, cells: list[int]) -> None:
        self._rm(seq, -1, -1)
        self.ledger.release(cells)
        self._free_seqs.append(seq)

    def trim(self, seq: int, cells: list[int], keep: int) -> None:
        """Forget positions keep.. of a sequence (its cells list is cut in place)."""
        self._rm(seq, keep, -1)
        self.ledger.release(cells[keep:])
        del cells[keep:]

    # -- room --------------------------------------------------------------------------------------

    def make_room(self, cells: int) -> bool:
        """Evict cached prefixes (least recently used first) until `cells` are free."""
        while self.ledger.free < cells:
            entry = self.cache.oldest()
            if entry is None:
                return False
            self._drop(entry, evicted=True)
        return True

    def forget(self, key: str) -> None:
        """The owner is gone (thread deleted): drop its cached prefixes and its file."""
        for entry in self.cache.by_key(key):
            self._drop(entry)
        if self.disk is not None:
            self.disk.delete(key)

    def cached_cells(self) -> int:
        return sum(len(e.tokens) for e in self.cache)

    def close(self) -> None:
        if self.disk is not None:
            self.disk.close()

    # -- internals ---------------------------------------------------------------------------------

    def _take_seq(self, spare: CachedPrefix | None = None) -> int:
        while not self._free_seqs:
            victim = next((e for e in self.cache if e is not spare), None)
            if victim is None:
                raise RuntimeError("no free llama.cpp sequence id")  # ids >= live sequences + 1: unreachable
            self._drop(victim, evicted=True)
        return self._free_seqs.pop()

    def _drop(self, entry: CachedPrefix, *, evicted: bool = False) -> None:
        self.cache.pop(entry.seq)
        self.free(entry.seq, entry.cells)
        if evicted:
            metrics.observe_kv_eviction()
        self._update_gauge()

    def _update_gauge(self) -> None:
        metrics.set_kv_cached_bytes(self.cached_cells() * self.bytes_per_cell)

    def _save(self, entry: CachedPrefix) -> None:
        assert self.disk is not None and entry.key is not None
        size = L.llama_state_seq_get_size(self._ctx, entry.seq)
        buf = (ctypes.c_uint8 * size)()
        written = L.llama_state_seq_get_data(self._ctx, buf, size, entry.seq)
        if written <= 0:
            log.warning("could not read the KV state of thread %s for the disk cache", entry.key)
            return
        self.disk.save(entry.key, entry.tokens, memoryview(buf)[:written])  # no copy: the writer owns buf

    def _restore(self, prompt: Sequence[int], key: str, *, better_than: int) -> Claim | None:
        assert self.disk is not None
        try:
            loaded = self.disk.load(key)
        except (OSError, ValueError) as exc:
            self.disk.unreadable(key, exc)
            return None
        if loaded is None:
            return None
        tokens, state = loaded
        # llama.cpp saves only the sliding-window cells still inside the window (see kvcache.py).
        floor = max(0, len(tokens) - self.n_swa) if self.n_swa else 0
        n = self.cache.reusable(min(common_prefix(tokens, prompt), len(prompt) - 1), floor)
        if n <= better_than or n < self.cache.min_reuse:
            return None  # what memory holds is as good; the file stays for a later run
        if not self.make_room(len(tokens)):
            return None
        seq = self._take_seq()
        buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        read = L.llama_state_seq_set_data(self._ctx, buf, len(state), seq)
        pos_max = L.llama_memory_seq_pos_max(self._memory, seq)
        if read != len(state) or pos_max != len(tokens) - 1:
            log.warning("llama.cpp refused the KV cache file of thread %s (read %d of %d bytes, last "
                        "position %d for %d tokens): ignored, the prompt is prefilled",
                        key, read, len(state), pos_max, len(tokens))
            metrics.observe_kv_lookup("restore_failed")
            self._rm(seq, -1, -1)
            self._free_seqs.append(seq)
            self.disk.discard(key)
            return None
        if self.twins:
            L.llama_memory_seq_cp(self._memory, seq, self.twin(seq), -1, -1)
        cells: list[int] = []
        self.ledger.grow(cells, len(tokens))
        if n < len(tokens):
            self.trim(seq, cells, n)
        metrics.observe_kv_lookup("restored")
        return Claim(seq, cells, n, floor, restored=True)
