"""The GGUF engine's prompt budget, in process with the bundled model, asserted on its step records:
prompts admitted together start in one step, and a long prompt never stops the decoders."""

from __future__ import annotations

from pathlib import Path

from assistants.inference.engine import SamplingParams
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


def test_a_long_prompt_beside_decoders_takes_the_budget_and_they_advance_every_step(
    bundled_model: Path,
) -> None:
    engine = GGUFEngine(bundled_model, ctx_size=4096, parallel=4, threads=2, cache_slots=0,
                        prompt_budget=256)
    try:
        for seq in range(3):
            engine.add_sequence(seq, engine.tokenize(f"Story {seq}:", add_special=True), GREEDY)
        engine.step()
        long = engine.tokenize("The river runs past the old mill. " * 100, add_special=True)
        assert 3 * 256 < len(long) < 1000
        engine.add_sequence(3, long, GREEDY)
        first = engine.step_records()[-1].step
        while not any(seq == 3 for seq, _ in engine.step()):
            pass
        steps = [r for r in engine.step_records() if r.step > first]
        assert sum(n for r in steps for seq, n in r.ingested if seq == 3) == len(long)
        assert all(r.decoded == (0, 1, 2) for r in steps)  # the decoders were never left out
        assert all(sum(n for _, n in r.ingested) <= 256 for r in steps)
        # Full budgets until the prompt's tail (the tokens after its last multiple of 128), which is
        # a chunk of its own: a cold prefill and a reused prefix's rest end in the same ubatch.
        tail = len(long) - (len(long) - 1) // 128 * 128
        assert [n for r in steps for _, n in r.ingested][-1] == tail
        assert len(steps) == -(-(len(long) - tail) // 256) + 1
    finally:
        engine.close()
