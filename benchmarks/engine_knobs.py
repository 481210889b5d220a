"""The GGUF engine's llama.cpp knobs, re-measured as ratios within one run (in-process, no HTTP).

    PYTHONPATH=src python benchmarks/engine_knobs.py [--model PATH] [--variants base,repack,...]
                                                     [--levels 1,8,16] [--tokens 64] [--rounds 2]

Each variant runs in a child process of its own (a fresh load: llama.cpp reads some settings at load),
the variants interleaved round by round so all of them see the same background load. A variant
changes what `inference/gguf.py` passes to llama.cpp, patched around `llama_model_load_from_file` /
`llama_init_from_model`, so the committed engine is measured unchanged apart from the knob:

  base        as committed: no weight repacking, flash attention auto, f16 KV, threads = cores,
              n_ubatch = n_batch = prompt budget (256) + parallel
  repack      use_extra_bufts = True (weight repacking; given up for batch invariance, see gguf.py)
  fa-on       flash attention forced on          fa-off     flash attention off
  kv-q8       K and V cache q8_0 (needs flash attention: forced on)
  threads-1   one decode thread (the event loop keeps a core)
  ubatch-64   n_ubatch 64 (llama.cpp splits a step's batch into ubatches of 64)

Per variant and level: aggregate tok/s (greedy, `--tokens`), mean TTFT, the ratio to `base`; then
the README's invariance properties, on 8 prompts: a request alone decodes the same text twice; the
same 8 arriving together decode the same texts twice; how many of the 8 together equal their solo
text (the README states this is not guaranteed under load). Measure on an idle machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from throughput import PROMPTS, add_model_args, model_path, ours

VARIANTS: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    # name: (model params, context params) set just before llama.cpp reads them
    "base": ({}, {}),
    "repack": ({"use_extra_bufts": True}, {}),
    "fa-on": ({}, {"flash_attn_type": 1}),
    "fa-off": ({}, {"flash_attn_type": 0}),
    "kv-q8": ({}, {"flash_attn_type": 1, "type_k": 8, "type_v": 8}),
    "threads-1": ({}, {"n_threads": 1, "n_threads_batch": 1}),
    "ubatch-64": ({}, {"n_ubatch": 64}),
}


def patch(variant: str) -> None:
    import llama_cpp as L

    model_fields, context_fields = VARIANTS[variant]
    load, init = L.llama_model_load_from_file, L.llama_init_from_model

    def load_patched(path: bytes, params: object) -> object:
        for name, value in model_fields.items():
            setattr(params, name, value)
        return load(path, params)

    def init_patched(model: object, params: object) -> object:
        for name, value in context_fields.items():
            setattr(params, name, value)
        return init(model, params)

    L.llama_model_load_from_file = load_patched
    L.llama_init_from_model = init_patched


async def invariance(path: Path, tokens: int) -> dict[str, int]:
    from assistants.inference import Inference, SamplingParams
    from assistants.settings import Settings

    inference = await Inference.start(Settings(model=path, parallel=8, ctx_size=8 * 512))
    greedy = SamplingParams(temperature=0.0, max_tokens=tokens)

    async def text(prompt: str) -> str:
        return await (await inference.generate(prompt, greedy)).text()

    try:
        solo = [await text(prompt) for prompt in PROMPTS[:8]]
        again = [await text(prompt) for prompt in PROMPTS[:8]]
        together = await asyncio.gather(*(text(prompt) for prompt in PROMPTS[:8]))
        together_again = await asyncio.gather(*(text(prompt) for prompt in PROMPTS[:8]))
    finally:
        await inference.close()
    return {"solo_repeat_equal": sum(a == b for a, b in zip(solo, again, strict=True)),
            "together_repeat_equal": sum(a == b for a, b in zip(together, together_again, strict=True)),
            "together_equal_solo": sum(a == b for a, b in zip(solo, together, strict=True))}


def child(args: argparse.Namespace) -> None:
    patch(args.one)
    path = model_path(args)
    levels = [int(level) for level in args.levels.split(",")]
    figures = asyncio.run(ours(path, None, args.tokens, levels, 1))
    out: dict[str, object] = {"levels": {str(k): v for k, v in figures.items()}}
    if args.invariance:
        out["invariance"] = asyncio.run(invariance(path, args.invariance_tokens))
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--levels", default="1,8,16")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--invariance-tokens", type=int, default=48, help="tokens per invariance text")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--invariance", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        child(args)
        return
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {list(VARIANTS)}")
    if "base" not in variants:
        variants.insert(0, "base")
    levels = args.levels.split(",")
    print(f"load average {os.getloadavg()[0]:.2f}; {args.tokens} greedy tokens; "
          f"median of {args.rounds} rounds")
    rates: dict[str, dict[str, list[float]]] = {v: {lv: [] for lv in levels} for v in variants}
    ttfts: dict[str, dict[str, list[float]]] = {v: {lv: [] for lv in levels} for v in variants}
    checks: dict[str, dict[str, int]] = {}
    for round_ in range(args.rounds):
        for variant in variants[round_ % len(variants):] + variants[:round_ % len(variants)]:
            command = [sys.executable, __file__, "--one", variant, "--levels", args.levels,
                       "--tokens", str(args.tokens), "--invariance-tokens", str(args.invariance_tokens),
                       "--data-dir", args.data_dir]
            if args.model:
                command += ["--model", args.model]
            if round_ == 0:
                command.append("--invariance")
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            for level in levels:
                rates[variant][level].append(result["levels"][level]["tok_s"])
                ttfts[variant][level].append(result["levels"][level]["ttft"])
            if "invariance" in result:
                checks[variant] = result["invariance"]
    base = {level: statistics.median(rates["base"][level]) for level in levels}
    print(f"{'variant':<10}" + "".join(f" {f'tok/s @{lv}':>10} {'x base':>6} {'TTFT':>6}" for lv in levels)
          + "  alone twice / together twice / together = alone (of 8)")
    for variant in variants:
        line = f"{variant:<10}"
        for level in levels:
            rate, ttft = statistics.median(rates[variant][level]), statistics.median(ttfts[variant][level])
            line += f" {rate:>10.1f} {rate / base[level]:>6.2f} {ttft:>5.2f}s"
        check = checks.get(variant, {})
        line += (f"  {check.get('solo_repeat_equal', '?')}/8 / {check.get('together_repeat_equal', '?')}/8"
                 f" / {check.get('together_equal_solo', '?')}/8")
        print(line, flush=True)


if __name__ == "__main__":
    main()
