"""Prefix reuse bookkeeping for one unified KV pool (pure Python: no llama.cpp import, unit-tested alone).

A finished sequence's KV cells are kept as a cached prefix (its tokens recorded) instead of being freed,
and a new prompt starts from the longest common token prefix of any cached one. Cells are shared, not
copied (llama.cpp's `seq_cp` inside one unified stream only tags cells with a second sequence id), so a
`CellLedger` mirrors which cells each sequence holds to know, exactly, how many cells are in use and
how many an eviction would free. Cached prefixes live in the part of the pool no live sequence needs;
they are evicted least recently used whenever a live sequence needs cells, before any live one is
touched.

Sliding-window (SWA) layers: llama.cpp overwrites a cell held by a single sequence once it falls out of
that sequence's window (even with the full-size SWA cache), and a prefix of n tokens needs the SWA
cells of the window before n. The engine therefore tags every cell of an SWA model with a second,
"twin" sequence id (`kvpool.py`): a cell held by two ids is never overwritten, so every prefix of a
cached sequence stays reusable. A prefix restored from disk is the exception: llama.cpp saves only the
SWA cells still inside the window, so its `swa_floor` says below which position they are missing,
and a reuse of n tokens needs n - n_swa + 1 >= swa_floor. See `PrefixCache.reusable`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import count


class CellLedger:
    """Which KV cells each holder references; a cell is free again when no holder references it."""

    def __init__(self, n_cells: int) -> None:
        self.n_cells = n_cells
        self._refs: dict[int, int] = {}
        self._next = count()

    @property
    def used(self) -> int:
        return len(self._refs)

    @property
    def free(self) -> int:
        return self.n_cells - len(self._refs)

    def grow(self, cells: list[int], n: int) -> None:
        """A holder's next n positions get fresh cells (appended to its list)."""
        for _ in range(n):
            cell = next(self._next)
            self._refs[cell] = 1
            cells.append(cell)

    def share(self, cells: Sequence[int]) -> list[int]:
        """The same cells for a second holder (llama.cpp `seq_cp`)."""
        for cell in cells:
            self._refs[cell] += 1
        return list(cells)

    def release(self, cells: Sequence[int]) -> int:
        """A holder lets these cells go; returns how many became free."""
        freed = 0
        for cell in cells:
            left = self._refs[cell] - 1
            if left:
                self._refs[cell] = left
            else:
                del self._refs[cell]
                freed += 1
        return freed

    def exclusive(self, cells: Sequence[int]) -> int:
        """Cells only this holder references: what releasing it would free."""
        return sum(1 for cell in cells if self._refs.get(cell) == 1)


@dataclass(eq=False)
class CachedPrefix:
    seq: int
    """The llama.cpp sequence id whose cells hold it."""
    tokens: list[int]
    cells: list[int]
    key: str | None = None
    """The thread (or other owner) it came from: its own cache is preferred and persisted under it."""
    swa_floor: int = 0
    """Sliding-window cells exist from this position on (0 unless restored from disk)."""


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    # Compare in slices first: threads share thousands of tokens and Python loops are slow.
    step = 256
    while i + step <= n and a[i:i + step] == b[i:i + step]:
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """The cached prefixes, least recently used first."""

    def __init__(self, *, n_swa: int = 0, min_reuse: int = 1, align: int = 1) -> None:
        self.n_swa = n_swa
        self.min_reuse = min_reuse
        self.align = align
        """A prefix whose rest is prefilled is reused to a multiple of this (the engine's prompt chunk):
        the rest is then prefilled in the chunks a cold prefill has, so a repeated greedy or seeded
        request gets the same logits as cold (a last token evaluated alone rounds differently)."""
        self._entries: OrderedDict[int, CachedPrefix] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[CachedPrefix]:
        return iter(list(self._entries.values()))

    def add(self, entry: CachedPrefix) -> None:
        self._entries[entry.seq] = entry

    def pop(self, seq: int) -> CachedPrefix | None:
        return self._entries.pop(seq, None)

    def touch(self, entry: CachedPrefix) -> None:
        self._entries.move_to_end(entry.seq)

    def oldest(self) -> CachedPrefix | None:
        return next(iter(self._entries.values()), None)

    def by_key(self, key: str) -> list[CachedPrefix]:
        return [e for e in self._entries.values() if e.key == key]

    def reusable(self, common: int, swa_floor: int) -> int:
        """How much of a common prefix of `common` tokens with an entry may be reused."""
        if self.n_swa and swa_floor and common - self.n_swa + 1 < swa_floor:
            return 0  # the window before `common` is not all there: see the module docstring
        return common

    def match(self, prompt: Sequence[int], key: str | None = None, *,
              whole: bool = False) -> tuple[CachedPrefix | None, int]:
        """The entry sharing the longest reusable prefix with `prompt`, and that length.

        At most len(prompt) - 1 (unless `whole`): the prompt's last token is evaluated for its logits.
        On equal lengths the entry with the same key wins, then the most recently used.
        """
        best: CachedPrefix | None = None
        best_n = 0
        limit = len(prompt) if whole else len(prompt) - 1
        for entry in reversed(self._entries.values()):
            n = min(common_prefix(entry.tokens, prompt), limit)
            n = self.reusable(n if whole else n - n % self.align, entry.swa_floor)
            if n > best_n or (n == best_n and n and key is not None and entry.key == key
                              and (best is None or best.key != key)):
                best, best_n = entry, n
        if best_n < self.min_reuse:
            return None, 0
        return best, best_n
