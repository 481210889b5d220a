"""The GGUF engine's prompt budget, in process with the bundled model, asserted on its step records:
prompts admitted together start in one step, and a long prompt never stops the decoders."""

from __future__ import annotations

from pathlib import Path

from assistants.inference.engine import SamplingParams, StepRecord
from assistants.inference.gguf import GGUFEngine

GREEDY = SamplingParams(temperature=0.0)


def test_prompts_admitted_together_are_ingested_in_one_step(bundled_model: Path) -> None:
    engine = GGUFEngine(bundled_model, ctx_size=2048, parallel=6, threads=2, cache_slots=0)
    try:
        prompts = [engine.tokenize(f"{word}, {word}, {word},", add_special=True)
                   for word in ("one", "two", "three", "four", "five", "six")]
        for seq, prompt in enumerate(prompts):
            engine.add_sequence(seq, prompt, GREEDY)
        sampled = engine.step()
        record = engine.step_records()[-1]
        assert record.ingested == tuple((seq, len(prompt)) for seq, prompt in enumerate(prompts))
        assert sorted(seq for seq, _ in sampled) == list(range(6))  # every one has its first token
        assert sorted(engine.step_records()[-1].sampled) == list(range(6))
        engine.step()
        assert engine.step_records()[-1].decoded == tuple(range(6))
    finally:
        engine.close()


def ingest(engine: GGUFEngine, seq: int, prompt: list[int]) -> list[StepRecord]:
    """Add a prompt and step until its first token: the steps that ingested it."""
    engine.add_sequence(seq, prompt, GREEDY)
    first = engine.step_records()[-1].step if engine.step_records() else 0
    while not any(s == seq for s, _ in engine.step()):
        pass
    return [r for r in engine.step_records() if r.step > first]


def test_a_long_prompt_takes_the_budget_alone_and_a_chunk_a_step_beside_decoders(bundled_model: Path) -> None:
    engine = GGUFEngine(bundled_model, ctx_size=4096, parallel=4, threads=2, cache_slots=0,
                        prompt_budget=256)
    try:
        long = engine.tokenize("The river runs past the old mill. " * 100, add_special=True)
        assert 3 * 256 < len(long) < 1000
        # Its tail (the tokens after its last multiple of 128) is a chunk of its own, so the ubatch
        # computing its last token is the same cold or after a reused prefix (see gguf.py).
        tail = len(long) - (len(long) - 1) // 128 * 128
        alone = ingest(engine, 3, long)
        assert [r.ingested for r in alone] == [((3, 256),)] * ((len(long) - tail) // 256) + (
            [((3, (len(long) - tail) % 256),)] if (len(long) - tail) % 256 else []) + [((3, tail),)]
        engine.remove_sequence(3)

        for seq in range(3):
            engine.add_sequence(seq, engine.tokenize(f"Story {seq}:", add_special=True), GREEDY)
        engine.step()
        beside = ingest(engine, 3, long)
        assert sum(n for r in beside for _, n in r.ingested) == len(long)
        assert all(r.decoded == (0, 1, 2) for r in beside)  # the decoders advanced every step
        assert [n for r in beside for _, n in r.ingested] == [128] * ((len(long) - tail) // 128) + [tail]
    finally:
        engine.close()
