"""Constrained vs unconstrained decode speed of the GGUF engine, measured in one run.

For 1 and 8 concurrent sequences it times decode-only steps (no prompt ingestion in the step) of:
* `plain`: temperature sampling with numpy, no grammar;
* `json-text`: a JSON-schema grammar whose output is mostly a free string (`{"story": "..."}`, at
  least 400 characters): the usual shape of structured output, where most tokens are plain draws
  the grammar accepts at once;
* `json-ints`: a grammar of integers only (`{"values": [1, 2, ...]}`, at least 60 of them): the model
  keeps wanting tokens the grammar refuses, so most steps need the top-k (or full) candidate check.
Sequences are never removed during a measurement, so the batch size stays what it says.

    .venv/bin/python benchmarks/constrained.py [--model PATH] [--steps 48] [--threads 2]

Prints tok/s per case, the ratio to `plain` at the same concurrency, and how often a sequence needed
the full-vocabulary check. Compare ratios within one run: absolute figures depend on the machine's load.

    .venv/bin/python benchmarks/constrained.py --stress N [--max-tokens 64] [--seed 0]

instead decodes N constrained generations under concurrent load (tests/constrained_load.py: JSON
schemas and forced tool calls, greedy and seeded, cancellations, unconstrained requests beside them)
and validates every finished one with jsonschema: prints the count of invalid outputs (exit status 1
if any) and each of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.constrained_load import run_load

from assistants.inference.engine import SamplingParams
from assistants.inference.gbnf import grammar_for_schema
from assistants.inference.gguf import GGUFEngine
from assistants.inference.grammar import GrammarSampler

PROMPT = "<start_of_turn>user\nTell me about your day, as JSON.<end_of_turn>\n<start_of_turn>model\n"
GRAMMARS = {
    "plain": None,
    "json-text": grammar_for_schema({"type": "object", "properties": {
        "story": {"type": "string", "minLength": 400}}, "required": ["story"]}),
    "json-ints": grammar_for_schema({"type": "object", "properties": {
        "values": {"type": "array", "items": {"type": "integer"}, "minItems": 60}}, "required": ["values"]}),
}


def default_model() -> Path:
    from assistants.inference.bundled import ensure_bundled_model

    return ensure_bundled_model(Path.home() / ".cache" / "assistants-bench")


def measure(engine: GGUFEngine, grammar: str | None, n: int, steps: int) -> tuple[float, float, int]:
    """(decode tok/s, tok per CPU-second, full-vocabulary checks) for n sequences decoding `steps`
    steps together. CPU time (all threads of this process) is the steadier figure on a busy machine:
    other processes stretch the wall clock, not the work done per token."""
    prompt = engine.tokenize(PROMPT, add_special=True)
    for seq in range(n):
        engine.add_sequence(seq, prompt, SamplingParams(temperature=0.8, seed=seq, grammar=grammar))
    try:
        while any(engine._sequences[s].last_token is None for s in range(n)):  # ingest the prompts
            engine.step()
        tokens, elapsed, cpu = 0, 0.0, 0.0
        for _ in range(steps):
            start, start_cpu = time.perf_counter(), time.process_time()
            sampled = engine.step()
            took, took_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            if not engine.step_records()[-1].ingested:
                tokens += len(sampled)
                elapsed += took
                cpu += took_cpu
        full = sum(s.sampler.full_scans for s in engine._sequences.values()
                   if isinstance(s.sampler, GrammarSampler))
        return tokens / elapsed, tokens / cpu, full
    finally:
        for seq in range(n):
            engine.remove_sequence(seq)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2,
                        help="interleaved rounds; the best of each case counts")
    parser.add_argument("--stress", type=int, default=0, metavar="N",
                        help="validate N constrained generations under load instead of timing")
    parser.add_argument("--max-tokens", type=int, default=64, help="per generation, with --stress")
    parser.add_argument("--seed", type=int, default=0, help="first seed, with --stress")
    args = parser.parse_args()
    model = args.model or default_model()
    if args.stress:
        sys.exit(stress(model, args))
    engine = GGUFEngine(model, ctx_size=8 * 1024, parallel=8, threads=args.threads)
    results: dict[tuple[str, int], list[tuple[float, float, int]]] = {}
    for _ in range(args.rounds):
        for n in (1, 8):
            for name, grammar in GRAMMARS.items():
                results.setdefault((name, n), []).append(measure(engine, grammar, n, args.steps))
    engine.close()
    print(f"model {model.name}, {args.steps} decode steps, best of {args.rounds} interleaved rounds")
    print(f"{'case':<10} {'seqs':>4} {'tok/s':>8} {'vs plain':>9} {'tok/cpu-s':>10} {'vs plain':>9} "
          f"{'full-vocab checks':>18}")
    rows = []
    for (name, n), runs in results.items():
        wall, per_cpu = max(r[0] for r in runs), max(r[1] for r in runs)
        full = min(r[2] for r in runs)
        plain = results[("plain", n)]
        plain_wall, plain_cpu = max(r[0] for r in plain), max(r[1] for r in plain)
        rows.append({"case": name, "sequences": n, "tok_s": round(wall, 1),
                     "vs_plain": round(wall / plain_wall, 2),
                     "tok_cpu_s": round(per_cpu, 1), "cpu_vs_plain": round(per_cpu / plain_cpu, 2),
                     "full_vocab_checks": full})
        print(f"{name:<10} {n:>4} {wall:>8.1f} {wall / plain_wall:>8.2f}x {per_cpu:>10.1f} "
              f"{per_cpu / plain_cpu:>8.2f}x {full:>18}")
    print(json.dumps(rows))


def stress(model: Path, args: argparse.Namespace) -> int:
    engine = GGUFEngine(model, ctx_size=8 * 1024, parallel=8, threads=args.threads)
    start = time.perf_counter()
    try:
        report = asyncio.run(run_load(engine, args.stress, max_tokens=args.max_tokens, seed=args.seed))
    finally:
        engine.close()
    print(f"model {model.name}, {time.perf_counter() - start:.0f} s")
    for case, text, why in report.invalid:
        print(f"INVALID {case}: {text!r}: {why}")
    print(report.summary())
    print(json.dumps({"invalid": len(report.invalid), "finished": report.finished,
                      "failed": report.failed, "constrained": report.constrained, "cut": report.cut,
                      "cancelled": report.cancelled, "plain": report.plain}))
    return 1 if report.invalid else 0


if __name__ == "__main__":
    main()
