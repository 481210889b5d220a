"""The batcher against a scripted engine: joining, leaving, cancelling, queueing, failures."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest

from assistants.inference.batcher import Batcher
from assistants.inference.engine import EngineError, SamplingParams
from tests.unit.fake_engine import EOG, FakeEngine

GREEDY = SamplingParams(temperature=0.0)


@pytest.fixture()
async def free() -> AsyncIterator[tuple[FakeEngine, Batcher]]:
    engine = FakeEngine(max_sequences=2)
    batcher = Batcher(engine)
    yield engine, batcher
    batcher.close()


@pytest.fixture()
async def gated() -> AsyncIterator[tuple[FakeEngine, Batcher]]:
    engine = FakeEngine(max_sequences=2, gated=True)
    batcher = Batcher(engine)
    yield engine, batcher
    engine.close()
    batcher.close()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_text_then_result_stop_on_end_of_generation(free: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = free
    generation = batcher.submit([10, 11, 18, EOG, 10], GREEDY, max_tokens=50)
    assert await generation.text() == "abc"
    assert generation.result is not None
    assert (
        generation.result.finish_reason,
        generation.result.prompt_tokens,
        generation.result.completion_tokens,
    ) == ("stop", 5, 3)
    await settle()
    assert engine.live_sequences == 0


async def test_max_tokens_ends_with_length_and_exact_count(free: tuple[FakeEngine, Batcher]) -> None:
    _, batcher = free
    generation = batcher.submit([11, 11, 11, 11, 11], GREEDY, max_tokens=3)
    assert await generation.text() == "bbb"
    assert generation.result is not None
    assert generation.result.finish_reason == "length"
    assert generation.result.completion_tokens == 3


async def test_character_split_over_tokens_comes_out_whole(free: tuple[FakeEngine, Batcher]) -> None:
    _, batcher = free
    generation = batcher.submit([10, 12, 13, 10, EOG], GREEDY, max_tokens=10)
    pieces = [piece async for piece in generation]
    assert "".join(pieces) == "a€a"
    assert all("\ufffd" not in piece for piece in pieces)


async def test_stop_string_across_tokens_is_trimmed(free: tuple[FakeEngine, Batcher]) -> None:
    _, batcher = free
    params = SamplingParams(temperature=0.0, stop=("<stop>",))
    generation = batcher.submit([10, 14, 15, 16, 17, 11, 11], params, max_tokens=20)
    assert await generation.text() == "a"
    assert generation.result is not None
    assert generation.result.finish_reason == "stop"
    assert generation.result.completion_tokens == 5


async def test_partial_stop_prefix_is_released_at_length(free: tuple[FakeEngine, Batcher]) -> None:
    _, batcher = free
    params = SamplingParams(temperature=0.0, stop=("<stop>",))
    generation = batcher.submit([10, 14, 15], params, max_tokens=3)
    assert await generation.text() == "a<st"
    assert generation.result is not None and generation.result.finish_reason == "length"


async def test_queue_beyond_parallel_runs_everything_in_fifo_order(free: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = free
    generations = [batcher.submit([10 + (i % 2)] * 3 + [EOG], GREEDY, max_tokens=10) for i in range(5)]
    texts = await asyncio.gather(*(g.text() for g in generations))
    assert texts == ["aaa", "bbb", "aaa", "bbb", "aaa"]
    assert max(len(r.decoded) for r in engine.records) == 2
    assert engine.live_sequences == 0


async def test_request_joins_at_the_next_step(gated: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = gated
    first = batcher.submit([10] * 50, GREEDY, max_tokens=50)
    await asyncio.to_thread(engine.advance, 2)
    second = batcher.submit([11] * 50, GREEDY, max_tokens=50)
    # The thread is blocked inside a step that started before `second` arrived: that one runs without it.
    await asyncio.to_thread(engine.advance, 2)
    records = engine.step_records()
    assert [len(r.decoded) for r in records] == [1, 1, 1, 2]
    first.cancel()
    second.cancel()


async def test_cancel_stops_decoding_within_one_step(gated: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = gated
    keep = batcher.submit([11] * 50, GREEDY, max_tokens=50)
    drop = batcher.submit([10] * 50, GREEDY, max_tokens=50)
    await asyncio.to_thread(engine.advance, 3)
    drop.cancel()
    await asyncio.to_thread(engine.advance, 1)
    await asyncio.to_thread(engine.advance, 1)
    text = await drop.text()
    assert drop.result is not None and drop.result.finish_reason == "cancelled"
    assert set(text) <= {"a"}
    last = engine.step_records()[-1]
    assert len(last.decoded) == 1  # only `keep` is still decoding
    assert engine.live_sequences == 1
    keep.cancel()
    await asyncio.to_thread(engine.advance, 1, more=False)
    await keep.text()
    assert engine.live_sequences == 0


async def test_leaving_the_context_manager_cancels(free: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = free
    async with batcher.submit([10] * 10_000, GREEDY, max_tokens=10_000) as generation:
        async for _ in generation:
            break
    await settle()
    assert engine.live_sequences == 0


async def test_cancel_while_queued(free: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = free
    running = [batcher.submit([10] * 10_000, GREEDY, max_tokens=10_000) for _ in range(2)]
    queued = batcher.submit([11] * 3, GREEDY, max_tokens=10)
    queued.cancel()
    assert await queued.text() == ""
    assert queued.result is not None and queued.result.finish_reason == "cancelled"
    for generation in running:
        generation.cancel()
        await generation.text()
    await settle()
    assert engine.live_sequences == 0 and batcher.queued == 0


async def test_engine_error_surfaces_as_exception_and_batcher_survives(
    free: tuple[FakeEngine, Batcher],
) -> None:
    engine, batcher = free
    engine.fail_next_step = EngineError("decode failed")
    generation = batcher.submit([10] * 5, GREEDY, max_tokens=5)
    with pytest.raises(EngineError, match="decode failed"):
        await generation.text()
    assert engine.live_sequences == 0
    again = batcher.submit([11, EOG], GREEDY, max_tokens=5)
    assert await again.text() == "b"


async def test_failed_admission_fails_only_that_request(free: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = free
    engine.fail_add = ValueError("bad prompt")
    bad = batcher.submit([10], GREEDY, max_tokens=5)
    with pytest.raises(ValueError):
        await bad.text()
    engine.fail_add = None
    good = batcher.submit([11, EOG], GREEDY, max_tokens=5)
    assert await good.text() == "b"


async def test_idle_thread_does_not_step(free: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = free
    await batcher.submit([10, EOG], GREEDY, max_tokens=5).text()
    steps = len(engine.records)
    await asyncio.sleep(0.2)
    assert len(engine.records) == steps


async def test_close_fails_unfinished_requests() -> None:
    engine = FakeEngine(max_sequences=1, gated=True)
    batcher = Batcher(engine)
    generation = batcher.submit([10] * 50, GREEDY, max_tokens=50)
    await asyncio.to_thread(engine.advance, 1)
    closing = asyncio.create_task(asyncio.to_thread(batcher.close))
    while not batcher._stopping:  # noqa: ASYNC110 (a flag set by another thread)
        await asyncio.sleep(0.01)
    engine.close()
    await closing
    with pytest.raises(RuntimeError, match="engine stopped"):
        await generation.text()


async def test_an_abandoned_generation_is_dropped(free: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = free
    generation = batcher.submit([10] * 10_000, GREEDY, max_tokens=10_000)
    await generation.__anext__()
    del generation
    gc.collect()
    await settle()
    assert engine.live_sequences == 0


async def test_a_crashed_engine_thread_fails_requests_instead_of_hanging() -> None:
    engine = FakeEngine(max_sequences=1)
    engine.is_end_of_generation = None  # type: ignore[assignment,method-assign]  # a bug: calling it raises
    batcher = Batcher(engine)
    generation = batcher.submit([10, 11], GREEDY, max_tokens=5)
    with pytest.raises(RuntimeError, match="engine stopped"):
        await generation.text()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit([10], GREEDY, max_tokens=1)


async def test_admission_waits_for_free_cells_not_only_slots(gated: tuple[FakeEngine, Batcher]) -> None:
    engine, batcher = gated
    engine.pool_cells = 20
    engine.cached_tokens = 3
    params = SamplingParams(temperature=0.0, max_tokens=4)
    first = batcher.submit([10] * 10, params, max_tokens=4)  # 14 cells
    second = batcher.submit([11] * 10, params, max_tokens=4)  # 14 more do not fit beside it
    await asyncio.to_thread(engine.advance, 1)
    assert engine.live_sequences == 1 and batcher.queued == 1  # a slot is free, the cells are not
    await asyncio.to_thread(engine.advance, 4)
    assert await first.text() == "aaaa"
    await asyncio.to_thread(engine.advance, 5)
    assert await second.text() == "bbbb"
    assert first.result is not None and first.result.cached_tokens == 3
