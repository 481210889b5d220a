"""MLX engine vs GGUF engine, both behind the same `Inference` + batcher, in one run (in-process).

    .venv/bin/python benchmarks/mlx_engine.py [--mlx DIR] [--gguf FILE]
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
from pathlib import Path

from throughput import ours  # same directory: both engines measured by the same code


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
        engine: asyncio.run(ours(model, None, args.tokens, levels, runs=1, engine=engine))
        for engine, model in (("gguf", args.gguf), ("mlx", args.mlx))
    }
    print(f"{args.tokens} greedy tokens/request; gguf {args.gguf.name}, mlx {args.mlx}")
    print("engine  concurrent  aggregate tok/s  mean TTFT s  vs gguf")
    for level in levels:
        for engine in ("gguf", "mlx"):
            rate, ttft = results[engine][level]["tok_s"], results[engine][level]["ttft"]
            ratio = rate / results["gguf"][level]["tok_s"]
            print(f"{engine:6}  {level:10d}  {rate:15.1f}  {ttft:11.2f}  {ratio:6.2f}x")


if __name__ == "__main__":
    main()
