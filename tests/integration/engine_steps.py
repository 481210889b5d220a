"""Driving an engine in-process (GGUF or MLX, through the `Engine` protocol) one sequence at a time."""

from __future__ import annotations

from assistants.inference.engine import Engine, SamplingParams

GREEDY = SamplingParams(temperature=0.0)


def generate(engine: Engine, prompt: list[int], n: int, key: str | None = None,
             seq: int = 0) -> tuple[int, list[int]]:
    """(prompt tokens reused from the cache, the first `n` greedy tokens) of `prompt` as sequence `seq`."""
    reused = engine.add_sequence(seq, prompt, GREEDY, key)
    out: list[int] = []
    while len(out) < n:
        out += [token for s, token in engine.step() if s == seq]
    engine.remove_sequence(seq)
    return reused, out[:n]
