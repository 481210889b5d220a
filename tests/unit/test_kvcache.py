"""Prefix-cache bookkeeping: shared cells are counted once, and SWA models reuse only safe prefixes."""

from __future__ import annotations

from assistants.inference.kvcache import CachedPrefix, CellLedger, PrefixCache, common_prefix


def test_shared_cells_are_counted_once_and_freed_by_the_last_holder() -> None:
    ledger = CellLedger(100)
    a: list[int] = []
    ledger.grow(a, 10)
    b = ledger.share(a[:6])
    ledger.grow(b, 4)
    assert ledger.used == 14
    assert ledger.exclusive(a) == 4 and ledger.exclusive(b) == 4
    assert ledger.release(a) == 4  # the 6 shared cells stay with b
    assert ledger.used == 10 and ledger.free == 90
    assert ledger.release(b) == 10 and ledger.used == 0


def test_common_prefix_across_slices() -> None:
    a = list(range(1000))
    assert common_prefix(a, [*a[:700], -1]) == 700
    assert common_prefix(a, a) == 1000
    assert common_prefix([], a) == 0


def _entry(seq: int, tokens: list[int], key: str | None = None) -> CachedPrefix:
    return CachedPrefix(seq, tokens, list(range(len(tokens))), key)


def test_match_prefers_the_longest_then_the_own_key_and_keeps_the_last_token_for_logits() -> None:
    cache = PrefixCache()
    cache.add(_entry(1, [1, 2, 3, 4], key="t1"))
    cache.add(_entry(2, [1, 2, 3, 9], key="t2"))
    entry, n = cache.match([1, 2, 3, 4, 5], key="t2")
    assert (entry.seq, n) == (1, 4)  # type: ignore[union-attr]
    entry, n = cache.match([1, 2, 3, 7], key="t2")
    assert (entry.seq, n) == (2, 3)  # type: ignore[union-attr]
    entry, n = cache.match([1, 2, 3, 4], key="t1")
    assert n == 3  # the prompt's last token is evaluated again: its logits are sampled
    entry, n = cache.match([1, 2, 3, 4], key="t1", whole=True)
    assert n == 4
    assert cache.match([5, 6]) == (None, 0)


def test_a_prefix_restored_without_its_early_window_cells_is_reused_only_near_its_end() -> None:
    cache = PrefixCache(n_swa=4)
    cache.add(CachedPrefix(1, [1, 2, 3, 4, 5, 6, 7, 8], list(range(8)), swa_floor=4))  # SWA cells 4..7 only
    assert cache.match([1, 2, 3, 4, 5, 6, 7, 8, 9])[1] == 8  # extends it whole
    assert cache.match([1, 2, 3, 4, 5, 6, 7, 0])[1] == 7  # the window before 7 is 4..6: all there
    assert cache.match([1, 2, 3, 4, 5, 0]) == (None, 0)  # the window before 5 needs position 2
    cache.add(_entry(2, [1, 2, 3, 4, 5, 6, 7, 9]))  # in memory, twin-protected: every prefix is whole
    assert cache.match([1, 2, 3, 4, 5, 0]) == (cache.match([1, 2, 3, 4, 5, 0])[0], 5)
    assert cache.match([1, 2, 3, 4, 5, 0])[0].seq == 2  # type: ignore[union-attr]


def test_lru_order_and_touch() -> None:
    cache = PrefixCache()
    for seq in (1, 2, 3):
        cache.add(_entry(seq, [seq]))
    cache.touch(cache.match([1, 0])[0])  # type: ignore[arg-type]
    assert cache.oldest().seq == 2  # type: ignore[union-attr]
    cache.pop(2)
    assert [e.seq for e in cache] == [3, 1]
