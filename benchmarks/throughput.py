"""Generation throughput: llama-cpp-python's high-level `Llama` vs our engine + batcher (in-process).

    PYTHONPATH=src python benchmarks/throughput.py [--model PATH] [--threads N] [--tokens 128]

Prints, in one run: the raw high-level single-stream tok/s (measured in a child process so its memory
does not count against ours), our single stream, our aggregate tok/s and mean time to first token at
1/4/8/16 concurrent requests, the ratios, and our peak RSS next to the model file size. Greedy,
`--tokens` per request, plain completion prompts (no chat template). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

_NUMBERS = itertools.count(1)


def fresh(prompt: str) -> str:
    """`prompt` behind a number no earlier request had: a server that reuses a cached prompt to the
    token (llama-server) cannot answer a repeated one from its cache, so time to first token is
    prefill under load, the same for both sides (clients.py)."""
    return f"Note {next(_NUMBERS)}. {prompt}"


PROMPTS = [
    "Once upon a time, in a small village by the sea,",
    "The history of the printing press begins",
    "Here is a recipe for a simple bread:",
    "The three laws of motion state that",
    "In the year 2050, cities will",
    "A guide to planting tomatoes:",
    "The old lighthouse keeper said",
    "Chess openings can be divided into",
    "The mountain trail was steep and",
    "My favourite song is about",
    "Rain fell on the quiet town as",
    "The scientist opened the box and",
    "To build a wooden chair, first",
    "The market was full of",
    "When the train finally arrived,",
    "A short poem about autumn:",
]


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="GGUF file (default: the bundled Gemma 3 270M)")
    parser.add_argument("--data-dir", default=str(Path.home() / ".local/share/assistants"))


def model_path(args: argparse.Namespace) -> Path:
    if args.model:
        return Path(args.model)
    from assistants.inference.bundled import ensure_bundled_model

    return ensure_bundled_model(Path(args.data_dir))


def raw_high_level(path: Path, threads: int, tokens: int, runs: int) -> dict[str, float]:
    """llama-cpp-python's `Llama`, sequential single stream: the figure to match. Its weights are not
    repacked, as our engine's are not (`inference.llama_load`: repacking segfaults on an AMX CPU)."""
    from assistants.inference.llama_load import unpacked_llama

    llm = unpacked_llama(str(path), n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False)
    llm.create_completion(PROMPTS[0], max_tokens=8, temperature=0)  # warm-up
    generated, started = 0, time.perf_counter()
    for prompt in PROMPTS[:runs]:
        out = llm.create_completion(prompt, max_tokens=tokens, temperature=0)
        generated += out["usage"]["completion_tokens"]
    elapsed = time.perf_counter() - started
    return {"tok_s": generated / elapsed, "tokens": generated}


async def ours(
    path: Path, threads: int | None, tokens: int, levels: list[int], runs: int, engine: str = "gguf",
    chat: bool = False,
) -> dict[int, dict[str, float]]:
    """Our engine + batcher in-process: aggregate tok/s and mean time to first token per level.
    Also used by mlx_engine.py, so both engines are measured by the same code. `chat`: each prompt as
    the user message of a chat turn behind a number of its own (`fresh`), rendered as
    /v1/chat/completions renders it (clients.py compares the two on the same kind of tokens)."""
    from assistants.inference import Inference, SamplingParams
    from assistants.settings import Settings

    parallel = max(levels)
    settings = Settings(engine=engine, model=path, parallel=parallel, ctx_size=parallel * 512,
                        threads=threads)
    inference = await Inference.start(settings)
    greedy = SamplingParams(temperature=0.0, max_tokens=tokens)
    try:
        await (await inference.generate(PROMPTS[0], SamplingParams(temperature=0.0, max_tokens=8))).text()

        async def one(prompt: str) -> tuple[float, int]:
            started = time.perf_counter()
            if chat:
                prompt = inference.render_chat([{"role": "user", "content": fresh(prompt)}])
            generation = await inference.generate(prompt, greedy)
            first = None
            async for _ in generation:
                if first is None:
                    first = time.perf_counter() - started
            assert generation.result is not None
            return first or 0.0, generation.result.completion_tokens

        results: dict[int, dict[str, float]] = {}
        for level in levels:
            rounds = runs if level == 1 else 1
            generated, ttfts, started = 0, [], time.perf_counter()
            for r in range(rounds):
                prompts = [PROMPTS[(r + i) % len(PROMPTS)] for i in range(level)]
                for ttft, count in await asyncio.gather(*(one(p) for p in prompts)):
                    ttfts.append(ttft)
                    generated += count
            elapsed = time.perf_counter() - started
            results[level] = {
                "tok_s": generated / elapsed,
                "ttft": sum(ttfts) / len(ttfts),
                "tokens": generated,
            }
        return results
    finally:
        await inference.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3, help="sequential requests for single-stream figures")
    parser.add_argument("--levels", default="1,4,8,16")
    parser.add_argument("--raw-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = model_path(args)
    if args.raw_only:
        print(json.dumps(raw_high_level(path, args.threads, args.tokens, args.runs)))
        return
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--raw-only",
            "--model",
            str(path),
            "--threads",
            str(args.threads),
            "--tokens",
            str(args.tokens),
            "--runs",
            str(args.runs),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    raw = json.loads(child.stdout.strip().splitlines()[-1])
    levels = [int(x) for x in args.levels.split(",")]
    figures = asyncio.run(ours(path, args.threads, args.tokens, levels, args.runs))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model_mb = path.stat().st_size / 2**20
    single = figures[levels[0]]["tok_s"]
    print(
        f"model {path.name} ({model_mb:.0f} MiB), threads {args.threads}, {args.tokens} greedy tokens/request"
    )
    print(f"raw llama-cpp-python Llama, single stream: {raw['tok_s']:7.1f} tok/s")
    for level, f in figures.items():
        print(
            f"ours, {level:2d} concurrent: {f['tok_s']:7.1f} tok/s aggregate, mean TTFT {f['ttft']:6.2f} s, "
            f"{f['tok_s'] / single:4.2f}x our single stream"
        )
    print(f"ratio ours single / raw single: {single / raw['tok_s']:.2f} (aim >= 0.95)")
    if 8 in figures:
        print(
            f"ratio ours 8 concurrent / ours single: {figures[8]['tok_s'] / single:.2f} (aim >= 1.8); "
            f"mean TTFT at 8: {figures[8]['ttft']:.2f} s (aim < 2 s)"
        )
    print(
        f"peak RSS (ours, in-process): {peak_mb:.0f} MiB = model + {peak_mb - model_mb:.0f} MiB (aim: + 300)"
    )


if __name__ == "__main__":
    main()
