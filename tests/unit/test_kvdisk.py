"""Thread caches on disk: round trip, refusal of damaged files, LRU budget, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistants.inference.kvdisk import DiskCache


def test_round_trip_and_delete(tmp_path: Path) -> None:
    disk = DiskCache(tmp_path, budget_bytes=10_000)
    disk.save("thread_a", [2, 5, 7], b"state bytes")
    disk.flush()
    assert disk.load("thread_a") == ([2, 5, 7], b"state bytes")
    disk.delete("thread_a")
    assert disk.load("thread_a") is None and not list(tmp_path.iterdir())
    disk.close()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_file_is_refused(tmp_path: Path, damage: str) -> None:
    disk = DiskCache(tmp_path, budget_bytes=10_000)
    disk.save("t", [1, 2], b"x" * 100)
    disk.flush()
    path = disk.path("t")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:-10]
    else:
        data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        disk.load("t")
    disk.close()


def test_the_least_recently_used_file_goes_over_budget(tmp_path: Path) -> None:
    disk = DiskCache(tmp_path, budget_bytes=700)
    for key in ("old", "mid", "new"):
        disk.save(key, [1], b"s" * 300)
        disk.flush()
    assert disk.load("old") is None  # 3 x ~330 bytes > 700: the oldest went
    assert disk.load("mid") is not None and disk.load("new") is not None
    assert disk.bytes_used() <= 700
    disk.close()
