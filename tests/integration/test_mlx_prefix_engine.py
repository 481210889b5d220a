"""The MLX engine's prefix reuse, in process with the converted bundled model: a reused prefix (in
memory, a fork past Gemma's sliding window, and restored from disk after a restart) gives the greedy
output of a cold prefill, and a bad cache file is ignored."""

from __future__ import annotations

from pathlib import Path

import mlx_lm  # noqa: F401  (the test extra installs it: a missing extra must fail, not skip)
import pytest

from assistants.inference.kvcache import PrefixCache
from assistants.inference.kvdisk import file_name
from assistants.inference.mlx.engine import MlxEngine
from tests.integration.engine_steps import generate

pytestmark = pytest.mark.slow

CHUNK = 128


def cold(engine: MlxEngine, prompt: list[int], n: int) -> list[int]:
    """The same prompt with nothing cached (the same full-size caches, prefilled from position 0)."""
    prefixes = engine.prefixes
    assert prefixes is not None
    cache, disk = prefixes.cache, prefixes.disk
    prefixes.cache, prefixes.disk = PrefixCache(align=CHUNK), None
    try:
        reused, out = generate(engine, prompt, n, seq=1)
        assert reused == 0
        return out
    finally:
        prefixes.cache, prefixes.disk = cache, disk


def open_engine(mlx_dir: Path, data: Path) -> MlxEngine:
    return MlxEngine(mlx_dir, ctx_size=4096, parallel=2, kv_cache_dir=data, kv_cache_disk=256 << 20)


def test_reused_prefixes_decode_like_a_cold_prefill(mlx_dir: Path, tmp_path: Path) -> None:
    engine = open_engine(mlx_dir, tmp_path)
    try:
        assert engine.prefixes is not None
        # Longer than Gemma's 512-token sliding window: reuse needs the full-size caches.
        history = engine.tokenize("<start_of_turn>user\n" + "The river runs past the old mill. " * 78,
                                  add_special=True)
        assert len(history) > 600
        reused, first = generate(engine, history, 3, key="thread")
        assert reused == 0
        grown = history + first[:2] + engine.tokenize(" And then", add_special=False)
        reused, warm = generate(engine, grown, 4, key="thread")
        # The previous sequence (prompt and fed answer tokens), to a multiple of the prompt chunk.
        assert reused == (len(history) + 2) // CHUNK * CHUNK
        assert warm == cold(engine, grown, 4)
        forked = history[:560] + engine.tokenize(" Suddenly", add_special=False)
        reused, fork = generate(engine, forked, 4)
        assert reused == 512
        assert fork == cold(engine, forked, 4)
        assert engine.prefixes.disk is not None
        engine.prefixes.disk.flush()
    finally:
        engine.close()
    # A new engine (a restart) restores the thread's prefix from disk.
    engine = open_engine(mlx_dir, tmp_path)
    try:
        saved = grown + warm
        again = saved + engine.tokenize(" Later", add_special=False)
        reused, restored = generate(engine, again, 3, key="thread")
        assert reused == len(saved)
        assert restored == cold(engine, again, 3)
    finally:
        engine.close()
    # A corrupted file is ignored: the prompt is prefilled cold, and the file is gone.
    (path,) = tmp_path.glob(f"*/{file_name('thread')}")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    engine = open_engine(mlx_dir, tmp_path)
    try:
        reused, out = generate(engine, again, 3, key="thread")
        assert reused == 0 and out == restored
        assert not path.exists()
    finally:
        engine.close()


def test_forgetting_a_key_drops_its_prefix_and_file(mlx_dir: Path, tmp_path: Path) -> None:
    engine = open_engine(mlx_dir, tmp_path)
    try:
        prompt = engine.tokenize("A short thread about the sea. " * 30, add_special=True)
        generate(engine, prompt, 2, key="gone")
        assert engine.prefixes is not None and engine.prefixes.disk is not None
        engine.prefixes.disk.flush()
        assert list(tmp_path.glob(f"*/{file_name('gone')}"))
        engine.forget_cache("gone")
        assert not list(tmp_path.glob(f"*/{file_name('gone')}"))
        assert generate(engine, prompt, 2, key="gone")[0] == 0
    finally:
        engine.close()
