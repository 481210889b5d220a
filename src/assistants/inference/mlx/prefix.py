"""The MLX engine's cached prefixes: mlx-lm KV caches of finished sequences, reused by later prompts.

A finished sequence's per-layer caches (mlx-lm's `KVCache`, taken from the generator with
`BatchGenerator.remove(..., return_prompt_caches=True)`) are kept with the tokens they hold. A new prompt
starts from the longest common token prefix of any of them: the matching policy is the GGUF pool's
(`kvcache.PrefixCache`: to a multiple of the prompt chunk, so the rest is prefilled in the chunks a cold
prefill has; the thread's own entry wins ties; least recently used goes first). A reuse hands the
generator slices of the entry's arrays: `BatchKVCache.merge` copies them into the batch, so the entry
stays intact for others. Bounds: at most `slots` entries and `max_tokens` cached tokens in all.

Sliding-window layers: mlx-lm gives Gemma 3's a `RotatingKVCache` of the window's size, which forgets
positions and cannot be trimmed back once past the window. The engine gives every layer a full
`KVCache` instead (`full_size_caches`, what llama.cpp's `swa_full` is to the GGUF engine): the model
still masks the window itself, and every prefix of a cached sequence stays reusable. A model whose
caches cannot be made plain `KVCache`s (recurrent layers, a rotating cache the model does not mask)
gets no prefix reuse.

On disk (`kvdisk.py`, shared with the GGUF engine): a keyed entry (a thread's) is written when it is
kept, as mlx-lm's `save_prompt_cache` safetensors bytes beside its tokens; a claim with a key whose
entry is not in memory loads it with `load_prompt_cache`, checks it (plain caches, one position per
token) and reuses what matches. Any failure is logged and the prompt is prefilled cold.

Only the engine thread calls it (mlx is not thread-safe).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import (
    KVCache,
    RotatingKVCache,
    load_prompt_cache,
    make_prompt_cache,
    save_prompt_cache,
)

from assistants import metrics
from assistants.inference.kvcache import CachedPrefix, PrefixCache, common_prefix
from assistants.inference.kvdisk import DiskCache

log = logging.getLogger("assistants.inference.mlx")

Caches = list[Any]
"""One mlx-lm cache object per layer."""


def full_size_caches(model: Any) -> Caches | None:
    """Fresh caches that keep every position of every layer, or None if this model's cannot."""
    window = getattr(getattr(model, "model", None), "window_size", None)
    caches = []
    for cache in make_prompt_cache(model):
        if type(cache) is KVCache:
            caches.append(cache)
        elif type(cache) is RotatingKVCache and cache.keep == 0 and cache.max_size == window:
            caches.append(KVCache())  # the model masks its window itself (Gemma 3)
        else:
            return None
    return caches


def sliced(caches: Caches, n: int) -> Caches:
    """Caches of the first n positions (views: the generator copies them into its batch)."""
    out = []
    for cache in caches:
        part = KVCache()
        part.keys, part.values = cache.keys[..., :n, :], cache.values[..., :n, :]
        part.offset = n
        out.append(part)
    return out


def to_bytes(caches: Caches) -> bytes:
    buffer = io.BytesIO()
    save_prompt_cache(buffer, caches)  # type: ignore[arg-type]  # mx.save_safetensors takes a file object
    return buffer.getvalue()


class _NamedBytes(io.BytesIO):
    name = "state.safetensors"  # mx.load picks the format by the name's extension


def from_bytes(state: bytes, n_tokens: int) -> Caches:
    """Caches read back from `to_bytes`; ValueError if they are not n_tokens plain KV caches."""
    try:
        caches = load_prompt_cache(_NamedBytes(state))
    except Exception as exc:  # mlx raises RuntimeError / ValueError / KeyError on bad data
        raise ValueError(f"not a prompt cache: {exc}") from exc
    if not caches or any(type(c) is not KVCache or c.offset != n_tokens or c.keys is None
                         or c.keys.shape[2] < n_tokens for c in caches):
        raise ValueError("the caches do not hold one position per token")
    return caches


@dataclass
class Claim:
    caches: Caches | None
    """The caches to start from (None: cold), holding the prompt's first `reused` tokens."""
    reused: int
    restored: bool = False


class MlxPrefixCache:
    def __init__(self, *, n_layers: int, slots: int, max_tokens: int, align: int,
                 disk: DiskCache | None = None) -> None:
        self.cache = PrefixCache(align=align)
        self.slots = slots
        self.max_tokens = max_tokens
        self.disk = disk
        self._n_layers = n_layers
        self._caches: dict[int, Caches] = {}
        """Entry id (CachedPrefix.seq) -> its per-layer caches."""
        self._ids = count()

    def claim(self, prompt: Sequence[int], key: str | None) -> Claim:
        entry, n = self.cache.match(prompt, key)
        if key is not None and self.disk is not None and (entry is None or entry.key != key):
            restored = self._restore(prompt, key, better_than=n)
            if restored is not None:
                return restored
        if entry is None:
            metrics.observe_kv_lookup("miss")
            return Claim(None, 0)
        metrics.observe_kv_lookup("hit")
        self.cache.touch(entry)
        return Claim(sliced(self._caches[entry.seq], n), n)

    def keep(self, tokens: list[int], caches: Caches, key: str | None) -> None:
        """A finished sequence's caches (holding exactly `tokens`) become a cached prefix."""
        if not tokens or len(caches) != self._n_layers or any(c.offset != len(tokens) for c in caches):
            return
        # An older entry whose tokens this one extends (its own earlier turn) is superseded.
        for other in self.cache:
            if common_prefix(other.tokens, tokens) == len(other.tokens):
                self._drop(other)
        entry = CachedPrefix(next(self._ids), tokens, [], key)
        self._caches[entry.seq] = caches
        self.cache.add(entry)
        while len(self.cache) > self.slots or self.cached_tokens() > self.max_tokens:
            oldest = self.cache.oldest()
            assert oldest is not None
            self._drop(oldest, evicted=True)
            if oldest is entry:
                break
        else:
            if key is not None and self.disk is not None:
                self.disk.save(key, tokens, to_bytes(caches))
        self._update_gauge()

    def forget(self, key: str) -> None:
        for entry in self.cache.by_key(key):
            self._drop(entry)
        if self.disk is not None:
            self.disk.delete(key)
        self._update_gauge()

    def cached_tokens(self) -> int:
        return sum(len(e.tokens) for e in self.cache)

    def close(self) -> None:
        if self.disk is not None:
            self.disk.close()

    def _drop(self, entry: CachedPrefix, *, evicted: bool = False) -> None:
        self.cache.pop(entry.seq)
        self._caches.pop(entry.seq, None)
        if evicted:
            metrics.observe_kv_eviction()

    def _update_gauge(self) -> None:
        metrics.set_kv_cached_bytes(sum(c.nbytes for caches in self._caches.values() for c in caches))

    def _restore(self, prompt: Sequence[int], key: str, *, better_than: int) -> Claim | None:
        assert self.disk is not None
        try:
            loaded = self.disk.load(key)
            if loaded is None:
                return None
            tokens, state = loaded
            n = min(common_prefix(tokens, prompt), len(prompt) - 1)
            if n <= better_than or n < self.cache.min_reuse:
                return None  # what memory holds is as good; the file stays for a later run
            caches = from_bytes(state, len(tokens))
            if len(caches) != self._n_layers:
                raise ValueError(f"{len(caches)} layers, the model has {self._n_layers}")
            mx.eval([c.keys for c in caches] + [c.values for c in caches])
        except (OSError, ValueError) as exc:
            self.disk.unreadable(key, exc)
            return None
        metrics.observe_kv_lookup("restored")
        return Claim(sliced(caches, n), n, restored=True)
