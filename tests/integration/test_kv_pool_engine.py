"""The GGUF engine's shared KV pool, in process with the bundled model: prefix reuse (in memory and
restored from disk) gives the greedy output of a cold prefill, and a full pool preempts instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistants import metrics
from assistants.inference.gguf import GGUFEngine
from tests.integration.engine_steps import GREEDY, generate


def cold(engine: GGUFEngine, prompt: list[int], n: int) -> list[int]:
    engine.pool.enabled = False
    try:
        return generate(engine, prompt, n, seq=1)[1]
    finally:
        engine.pool.enabled = True


@pytest.fixture(scope="module")
def history(bundled_model: Path) -> list[int]:
    engine = GGUFEngine(bundled_model, ctx_size=256, parallel=1, threads=2)
    try:
        # Longer than Gemma's 512-token sliding window: reuse needs the twin-protected SWA cells.
        text = "<start_of_turn>user\n" + "The river runs past the old mill. " * 78
        return engine.tokenize(text, add_special=True)
    finally:
        engine.close()


def chunk_floor(tokens: int, engine: GGUFEngine) -> int:
    """An in-memory prefix is reused to a multiple of the prompt chunk (kvcache.PrefixCache.align)."""
    return tokens - tokens % engine.prompt_chunk


def test_reused_prefixes_decode_like_a_cold_prefill(bundled_model: Path, history: list[int],
                                                    tmp_path: Path) -> None:
    assert len(history) > 600
    engine = GGUFEngine(bundled_model, ctx_size=4096, parallel=2, threads=2, kv_cache_dir=tmp_path,
                        kv_cache_disk=64 << 20)
    try:
        reused, first = generate(engine, history, 3, key="thread")
        assert reused == 0
        grown = history + first[:2] + engine.tokenize(" And then", add_special=False)
        reused, warm = generate(engine, grown, 4, key="thread")
        # The previous sequence (prompt and fed answer tokens), to a multiple of the prompt chunk.
        assert reused == chunk_floor(len(history) + 2, engine)
        assert warm == cold(engine, grown, 4)
        # Diverging inside the cached prefix, past the sliding window: the shared part is reused.
        forked = history[:560] + engine.tokenize(" Suddenly", add_special=False)
        reused, fork = generate(engine, forked, 4)
        assert reused == chunk_floor(560, engine)
        assert fork == cold(engine, forked, 4)
        assert engine.pool.disk is not None
        engine.pool.disk.flush()
    finally:
        engine.close()
    # A new engine (a restart) restores the thread's prefix from disk.
    engine = GGUFEngine(bundled_model, ctx_size=4096, parallel=2, threads=2, kv_cache_dir=tmp_path,
                        kv_cache_disk=64 << 20)
    try:
        saved = grown + warm[:3]
        again = saved + engine.tokenize(" Later", add_special=False)
        reused, restored = generate(engine, again, 3, key="thread")
        assert reused == len(saved)
        assert restored == cold(engine, again, 3)
    finally:
        engine.close()


def test_a_full_pool_preempts_the_youngest_and_it_resumes(bundled_model: Path) -> None:
    engine = GGUFEngine(bundled_model, ctx_size=256, parallel=2, threads=2, cache_slots=0)
    try:
        prompts = [engine.tokenize(f"{name} walked into the forest. " * 16, add_special=True)
                   for name in ("Ann", "Bo")]
        assert all(95 < len(p) < 120 for p in prompts)
        solo = generate(engine, prompts[0], 40, seq=0)[1]
        preempted = metrics.KV_PREEMPTIONS._value.get()
        outs: dict[int, list[int]] = {0: [], 1: []}
        for seq, prompt in enumerate(prompts):
            engine.add_sequence(seq, prompt, GREEDY)
        while len(outs[0]) < 40 or len(outs[1]) < 40:  # together they need > 256 cells: one must wait
            for seq, token in engine.step():
                outs[seq].append(token)
                if len(outs[seq]) == 40:
                    engine.remove_sequence(seq)
        assert metrics.KV_PREEMPTIONS._value.get() == preempted + 1
        assert outs[0] == solo  # the older one never noticed
        assert engine.pool.ledger.used == 0  # the preempted one's cells came back, then went
    finally:
        engine.close()
