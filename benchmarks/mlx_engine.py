"""MLX engine vs GGUF engine, both behind the same `Inference` + batcher, in one run (in-process).

    PYTHONPATH=src /work/mlxvenv/bin/python benchmarks/mlx_engine.py [--mlx DIR] [--gguf FILE]
        [--tokens 16] [--levels 1,4,8]

Without --gguf the bundled GGUF is assembled into --data-dir; without --mlx it is converted there once
(as `serve --engine mlx` does). For each engine and each concurrency level N it sends N greedy plain
completion prompts at once and prints aggregate tok/s (completion tokens / wall time of the batch,
prompt ingestion included) and the mean time to first token. Needs the mlx extra. Not a test: run it
on an otherwise idle machine and compare the two engines within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

PROMPTS = [
    "Once upon a time, in a small village by the sea,",
    "The history of the printing press begins",
    "Here is a recipe for a simple bread:",
    "The three laws of motion state that",
    "In the year 2050, cities will",
    "A guide to planting tomatoes:",
    "The old lighthouse keeper said",
    "Chess openings can be divided into",
]


async def measure(engine: str, model: Path, tokens: int, levels: list[int]) -> dict[int, tuple[float, float]]:
    from assistants.inference import Inference, SamplingParams
    from assistants.settings import Settings

    parallel = max(levels)
    settings = Settings(engine=engine, model=model, parallel=parallel, ctx_size=parallel * 512)
    inference = await Inference.start(settings)
    greedy = SamplingParams(temperature=0.0, max_tokens=tokens)
    try:
        await (await inference.generate(PROMPTS[0], SamplingParams(temperature=0.0, max_tokens=4))).text()

        async def one(prompt: str) -> tuple[float, int]:
            started = time.perf_counter()
            generation = await inference.generate(prompt, greedy)
            first = None
            async for _ in generation:
                if first is None:
                    first = time.perf_counter() - started
            assert generation.result is not None
            return first or 0.0, generation.result.completion_tokens

        figures: dict[int, tuple[float, float]] = {}
        for level in levels:
            started = time.perf_counter()
            done = await asyncio.gather(*(one(PROMPTS[i % len(PROMPTS)]) for i in range(level)))
            elapsed = time.perf_counter() - started
            figures[level] = (sum(n for _, n in done) / elapsed, sum(t for t, _ in done) / level)
        return figures
    finally:
        await inference.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlx", type=Path, help="MLX model directory (default: bundled, converted)")
    parser.add_argument("--gguf", type=Path, help="GGUF file (default: the bundled Gemma 3 270M)")
    parser.add_argument("--data-dir", type=Path, default=Path.home() / ".local/share/assistants")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--levels", default="1,4,8")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    if args.gguf is None:
        from assistants.inference.bundled import ensure_bundled_model

        args.gguf = ensure_bundled_model(args.data_dir)
    if args.mlx is None:
        from assistants.inference.mlx.serve import bundled_mlx_model

        args.mlx = bundled_mlx_model(args.data_dir)
    results = {
        "gguf": asyncio.run(measure("gguf", args.gguf, args.tokens, levels)),
        "mlx": asyncio.run(measure("mlx", args.mlx, args.tokens, levels)),
    }
    print(f"{args.tokens} greedy tokens/request; gguf {args.gguf.name}, mlx {args.mlx}")
    print("engine  concurrent  aggregate tok/s  mean TTFT s  vs gguf")
    for level in levels:
        for engine in ("gguf", "mlx"):
            rate, ttft = results[engine][level]
            ratio = rate / results["gguf"][level][0]
            print(f"{engine:6}  {level:10d}  {rate:15.1f}  {ttft:11.2f}  {ratio:6.2f}x")


if __name__ == "__main__":
    main()
