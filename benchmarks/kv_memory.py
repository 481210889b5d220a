"""What the GGUF engine's memory on defaults is made of: RSS of one process per configuration.

Each configuration runs in a fresh process: it loads the model (the bundled one unless --model),
creates a llama.cpp context the way `GGUFEngine` does (unified KV, n_batch 136) but with one knob
changed, decodes one prompt chunk (so the compute buffers are touched) and prints VmRSS. Then the
engine itself on defaults, and its peak while a long thread's cache is written to disk. RSS is not a
timing: the figures hold on a loaded machine.

    python benchmarks/kv_memory.py [--model PATH] [--thread-tokens 8000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# name: context params changed from the engine's defaults (n_ctx 16384, 8 live + 16 cached sequences
# with twin ids = 48 llama.cpp sequence ids, swa_full, f16 K and V).
CONFIGS: dict[str, dict[str, object]] = {
    "model only (no context)": {"no_context": True},
    "engine defaults": {},
    "swa_full off": {"swa_full": False},
    "swa_full off, 24 ids (no twins)": {"swa_full": False, "n_seq_max": 24},
    "9 sequence ids (--kv-cache-slots 1, no twins)": {"n_seq_max": 9},
    "ctx 8192": {"n_ctx": 8192},
    "ctx 4096": {"n_ctx": 4096},
    "q8_0 K and V (flash attention)": {"type_k": 8, "type_v": 8, "flash_attn_type": 1},
    "flash attention, f16": {"flash_attn_type": 1},
}


def rss_mib() -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
                  if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def child_context(model: str, change: dict[str, object]) -> None:
    import llama_cpp as L

    from assistants.inference.gguf import _init_backend

    _init_backend(verbose=False)
    params = L.llama_model_default_params()
    params.use_extra_bufts = False
    handle = L.llama_model_load_from_file(model.encode(), params)
    if change.get("no_context"):
        print(json.dumps(rss_mib()))
        return
    ctx_params = L.llama_context_default_params()
    ctx_params.n_ctx, ctx_params.n_seq_max, ctx_params.n_batch, ctx_params.n_ubatch = 16384, 48, 136, 136
    ctx_params.kv_unified, ctx_params.swa_full, ctx_params.no_perf = True, True, True
    ctx_params.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
    for name, value in change.items():
        setattr(ctx_params, name, value)
    ctx = L.llama_init_from_model(handle, ctx_params)
    assert ctx, f"llama.cpp refused {change}"
    batch = L.llama_batch_init(136, 0, 1)
    for i in range(128):
        batch.token[i], batch.pos[i], batch.n_seq_id[i] = 2 + i, i, 1
        batch.seq_id[i][0], batch.logits[i] = 0, i == 127
    batch.n_tokens = 128
    assert L.llama_decode(ctx, batch) == 0
    print(json.dumps(rss_mib()))


def child_engine(model: str, thread_tokens: int) -> None:
    from assistants.inference.engine import SamplingParams
    from assistants.inference.gguf import GGUFEngine

    with tempfile.TemporaryDirectory() as data:
        engine = GGUFEngine(Path(model), ctx_size=16384, parallel=8, threads=2, kv_cache_dir=Path(data),
                            kv_cache_disk=1 << 30)
        loaded = rss_mib()[0]
        prompt = [2] + [(i * 7919) % 200_000 + 1000 for i in range(thread_tokens - 1)]
        engine.add_sequence(0, prompt, SamplingParams(temperature=0.0, max_tokens=1), "thread")
        while not engine.step():
            pass
        before_save = rss_mib()[0]
        engine.remove_sequence(0)  # kept, and written through to disk
        assert engine.pool.disk is not None
        engine.pool.disk.flush()
        after, peak = rss_mib()
        engine.close()
    print(json.dumps([loaded, before_save, after, peak]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--thread-tokens", type=int, default=8000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        from assistants.inference.bundled import ensure_bundled_model

        args.model = ensure_bundled_model(Path(tempfile.gettempdir()) / "bench-model", progress=False)
    model = str(args.model)
    if args.child == "engine":
        child_engine(model, args.thread_tokens)
        return
    if args.child:
        child_context(model, CONFIGS[args.child])
        return
    print(f"model file {args.model.stat().st_size / 2**20:.0f} MiB")

    def run(child: str) -> list[float]:
        done = subprocess.run([sys.executable, __file__, "--model", model, "--child", child,
                               "--thread-tokens", str(args.thread_tokens)],
                              capture_output=True, text=True, check=True)
        return list(json.loads(done.stdout.strip().splitlines()[-1]))

    for name in CONFIGS:
        rss, _ = run(name)
        print(f"{name:48s} RSS {rss:6.0f} MiB", flush=True)
    loaded, before_save, after, peak = run("engine")
    print(f"{'GGUFEngine on defaults, after load':48s} RSS {loaded:6.0f} MiB")
    print(f"{f'... one {args.thread_tokens}-token thread prefilled':48s} RSS {before_save:6.0f} MiB")
    print(f"{'... kept and written to disk':48s} RSS {after:6.0f} MiB, peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
