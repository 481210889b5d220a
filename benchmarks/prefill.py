"""The GGUF engine's per-step prompt budget, measured as ratios within one run (in-process, no HTTP).

    PYTHONPATH=src python benchmarks/prefill.py [--model PATH] [--budgets 512,128,256/256] [--rounds 2]
                                                [--threads N] [--baseline-src DIR]

A variant `512` sets the engine's `prompt_budget` (prompt tokens a step takes while nothing decodes),
`512/256` also its `beside_budget` (beside decoders; default the 128-token prompt chunk). Each variant
runs in a child process of its own (a fresh engine), the variants interleaved round by
round so all of them see the same background load. Per variant, through `Inference` (engine + batcher):

  ttft8    8 short prompts submitted together: mean / max time to their first token, the process CPU
           seconds and the engine steps until the last one has it
  long     one ~2,400-token prompt alone: time to its first token, CPU seconds, steps
  beside   8 streams decoding while a long prompt is ingested: its time to first token, the streams'
           aggregate tok/s over that time (per wall and per CPU second), and the longest gap between
           two tokens of one stream (how long a step carrying prompt work holds the decoders)

Steps do not depend on the machine's load; under load read the CPU columns (with `--threads 1`
ggml's workers do not spin waiting for a descheduled sibling) rather than the wall-clock ones.
`--baseline-src DIR` adds a variant `base` run with PYTHONPATH=DIR (e.g. a worktree of an earlier
commit, whose engine may not know `prompt_budget`), so a change is measured against it in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from throughput import PROMPTS, add_model_args, model_path

LONG_WORDS = ("river mill stone bread winter lantern harbour valley orchard letter bridge candle meadow "
              "thread kettle window garden market").split()


def long_prompt(words: int) -> str:
    return "Summarise the notes below.\n" + " ".join(
        f"{LONG_WORDS[i % len(LONG_WORDS)]}{'.' if i % 11 == 10 else ''}" for i in range(words))


def steps(inference: object) -> int:
    records = inference.engine.step_records()  # type: ignore[attr-defined]
    return records[-1].step if records else 0


async def measure(path: Path, budget: tuple[int, int | None] | None, long_words: int,
                  threads: int) -> dict[str, float]:
    from assistants.inference import Inference, SamplingParams
    from assistants.settings import Settings

    if budget is not None:
        from assistants.inference.gguf import GGUFEngine

        defaults = GGUFEngine.__init__.__kwdefaults__
        defaults["prompt_budget"], defaults["beside_budget"] = budget
    settings = Settings(model=path, parallel=9, ctx_size=9 * 1024, threads=threads)
    inference = await Inference.start(settings)
    try:
        await (await inference.generate(PROMPTS[0], SamplingParams(temperature=0.0, max_tokens=4))).text()

        async def first_token(prompt: str, tokens: int) -> float:
            started = time.perf_counter()
            generation = await inference.generate(prompt, SamplingParams(temperature=0.0, max_tokens=tokens))
            first = None
            async for _ in generation:
                if first is None:
                    first = time.perf_counter() - started
            return first or 0.0

        out: dict[str, float] = {}
        cpu, step = time.process_time(), steps(inference)
        ttfts = await asyncio.gather(*(first_token(p, 1) for p in PROMPTS[:8]))
        out.update(ttft8_mean=statistics.mean(ttfts), ttft8_max=max(ttfts),
                   ttft8_cpu=time.process_time() - cpu, ttft8_steps=steps(inference) - step)
        text = long_prompt(long_words)
        cpu, step = time.process_time(), steps(inference)
        out.update(long_wall=await first_token(text, 1), long_cpu=time.process_time() - cpu,
                   long_steps=steps(inference) - step)

        # 8 decoders, then the long prompt (a different one: no cached prefix) arrives beside them.
        stamps: list[list[float]] = [[] for _ in range(8)]
        running, done = asyncio.Event(), asyncio.Event()

        async def decoder(i: int) -> None:
            params = SamplingParams(temperature=0.0, max_tokens=400)
            generation = await inference.generate(PROMPTS[8 + i], params)
            async for _ in generation:
                stamps[i].append(time.perf_counter())
                if min(len(s) for s in stamps) >= 3:
                    running.set()
                if done.is_set():
                    break

        tasks = [asyncio.create_task(decoder(i)) for i in range(8)]
        await running.wait()
        begin, cpu = time.perf_counter(), time.process_time()
        out["beside_long_wall"] = await first_token("Another note. " + text, 1)
        end, cpu = time.perf_counter(), time.process_time() - cpu
        done.set()
        await asyncio.gather(*tasks)
        window = sum(1 for s in stamps for t in s if begin <= t <= end)
        gaps = [b - a for s in stamps for a, b in itertools.pairwise(s) if b >= begin and a <= end]
        out.update(beside_tok_s=window / (end - begin), beside_tok_cpu_s=window / cpu,
                   beside_max_gap=max(gaps) if gaps else 0.0, prompt_tokens=len(inference.tokenize(text)))
        return out
    finally:
        await inference.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--budgets", default="512,128,256,1024,256/256,512/512",
                        help="variants: BUDGET (beside decoders: the engine's default) or BUDGET/BESIDE")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--long-words", type=int, default=2000,
                        help="words of the long prompt (~2,400 tokens)")
    parser.add_argument("--baseline-src", help="run a `base` variant with PYTHONPATH=DIR")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = model_path(args)
    if args.one:
        idle, _, beside = args.one.partition("/")
        budget = None if args.one == "base" else (int(idle), int(beside) if beside else None)
        print(json.dumps(asyncio.run(measure(path, budget, args.long_words, args.threads))))
        return
    variants = (["base"] if args.baseline_src else []) + args.budgets.split(",")
    print(f"load average {os.getloadavg()[0]:.2f} at start; median of {args.rounds} rounds", flush=True)
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for round_ in range(args.rounds):
        for variant in variants[round_ % len(variants):] + variants[:round_ % len(variants)]:
            env = dict(os.environ)
            if variant == "base":
                env["PYTHONPATH"] = args.baseline_src
            command = [sys.executable, __file__, "--one", variant, "--model", str(path),
                       "--long-words", str(args.long_words), "--threads", str(args.threads)]
            done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
            results[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  round {round_ + 1} {variant}: {results[variant][-1]}", file=sys.stderr, flush=True)
    keys = ["ttft8_mean", "ttft8_max", "ttft8_cpu", "ttft8_steps", "long_wall", "long_cpu", "long_steps",
            "beside_long_wall", "beside_tok_s", "beside_tok_cpu_s", "beside_max_gap"]
    median = {v: {k: statistics.median(r[k] for r in results[v]) for k in keys} for v in variants}
    ref = variants[0]
    tokens = int(results[ref][0]["prompt_tokens"])
    print(f"long prompt {tokens} tokens; ratios are to `{ref}`; load average {os.getloadavg()[0]:.2f} at end")
    for k in keys:
        print(f"{k:<17}" + "".join(f" {v}: {median[v][k]:8.3f} ({median[v][k] / median[ref][k]:4.2f}x)"
                                   for v in variants), flush=True)


if __name__ == "__main__":
    main()
