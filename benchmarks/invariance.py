"""Batch invariance: does a greedy request decode the same text alone and beside others? (in-process)

    PYTHONPATH=src python benchmarks/invariance.py [--model PATH] [--tokens 48] [--levels 4,8] [--rounds 2]

Decodes each prompt alone, then `level` prompts at once, `--rounds` times, and prints how many of the
concurrent texts equal their solo text and where the first difference fell. Not a speed figure: it
tells what the batching costs in reproducibility (greedy ties flip under a different batch shape).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

# same directory: the same prompts and model arguments as the speed figures
from throughput import PROMPTS, add_model_args, model_path


def first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


async def measure(path: Path, tokens: int, levels: list[int], rounds: int) -> None:
    from assistants.inference import Inference, SamplingParams
    from assistants.settings import Settings

    parallel = max(levels)
    inference = await Inference.start(Settings(model=path, parallel=parallel, ctx_size=parallel * 512))
    greedy = SamplingParams(temperature=0.0, max_tokens=tokens)

    async def text(prompt: str) -> str:
        return await (await inference.generate(prompt, greedy)).text()

    try:
        solo = [await text(prompt) for prompt in PROMPTS[:parallel]]
        for level in levels:
            for r in range(rounds):
                together = await asyncio.gather(*(text(prompt) for prompt in PROMPTS[:level]))
                pairs = list(zip(solo[:level], together, strict=True))
                same = sum(a == b for a, b in pairs)
                splits = sorted(first_difference(a, b) for a, b in pairs if a != b)
                print(f"{level:2d} concurrent, round {r + 1}: {same}/{level} equal their solo text"
                      + (f"; first differences at characters {splits}" if splits else ""))
    finally:
        await inference.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--levels", default="4,8")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(measure(model_path(args), args.tokens, [int(x) for x in args.levels.split(",")], args.rounds))


if __name__ == "__main__":
    main()
