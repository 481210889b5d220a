"""Server CPU per streamed chat token: this tree's server against another tree's, in the same run.

    python benchmarks/sse_cpu.py [--baseline /path/to/other/src] [--extra-path DIR] [--streams 8]
                                 [--tokens 128] [--rounds 3]

Starts `assistants serve` on the bundled model from `src/` here and (with `--baseline`) from another
checkout's `src/`, then, round by round and alternating which server goes first, runs `--streams`
concurrent streamed chat completions of `--tokens` greedy tokens against each. Per server it prints
the CPU of the event loop (the process's main thread: HTTP, SSE, JSON, the event log's poll) and of
the whole process (the decode threads too) per streamed token, from `/proc/<pid>/task/<pid>/stat`
and `/proc/<pid>/stat`, and the loop's CPU per second while idle. CPU time, not wall clock, so the
figures hold up on a shared machine (the tok/s column does not). Only one server decodes at a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.serverproc import ServerProcess  # noqa: E402
from throughput import PROMPTS, add_model_args, model_path  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid: int, thread: int | None = None) -> float:
    """CPU seconds (user + system) of a process, or of one of its threads."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread is not None else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def stream_one(base_url: str, model: str, tokens: int, n: int) -> int:
    """One streamed chat completion; the completion tokens its usage chunk reports."""
    body = {"model": model, "max_tokens": tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": PROMPTS[n % len(PROMPTS)]}]}
    produced = 0
    with httpx.stream("POST", base_url + "/v1/chat/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {") and '"usage":{' in line:
                usage = msgspec.json.decode(line[6:]).get("usage")
                if usage:
                    produced = usage["completion_tokens"]
    return produced


def measure(server: ServerProcess, model: str, streams: int, tokens: int) -> tuple[float, float, int, float]:
    """(loop CPU s, process CPU s, tokens streamed, wall s) of `streams` concurrent streams."""
    assert server.proc is not None
    pid = server.proc.pid
    loop, total, started = cpu(pid, pid), cpu(pid), time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        produced = sum(pool.map(lambda n: stream_one(server.base_url, model, tokens, n), range(streams)))
    return cpu(pid, pid) - loop, cpu(pid) - total, produced, time.perf_counter() - started


def idle_loop(server: ServerProcess, seconds: float = 3.0) -> float:
    """The event loop's CPU ms per second with no request in flight (polls, sweeps, heartbeats)."""
    assert server.proc is not None
    pid = server.proc.pid
    used, started = cpu(pid, pid), time.perf_counter()
    time.sleep(seconds)
    return (cpu(pid, pid) - used) / (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--baseline", help="the baseline server's PYTHONPATH (another checkout's src/)")
    parser.add_argument("--extra-path", default="",
                        help="entries added to this tree's PYTHONPATH (e.g. optional packages to try)")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    path = model_path(args)
    trees = {"this tree": os.pathsep.join(filter(None, [str(ROOT / "src"), args.extra_path]))}
    if args.baseline:
        trees["baseline"] = args.baseline
    print(f"model {path.name}, {args.streams} streams x {args.tokens} tokens, "
          f"load average {os.getloadavg()[0]:.2f}")
    servers: dict[str, ServerProcess] = {}
    results: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in trees}
    idle: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for name, src in trees.items():
            data_dir = Path(tempfile.mkdtemp(prefix="bench-sse-"))
            servers[name] = ServerProcess(
                data_dir, "--model", str(path), "--parallel", str(args.streams),
                "--ctx-size", str(1024 * args.streams), env={"PYTHONPATH": src}).start(timeout=600)
        model = httpx.get(servers["this tree"].base_url + "/v1/models").json()["data"][0]["id"]
        for server in servers.values():
            measure(server, model, args.streams, 8)  # warm-up
        names = list(trees)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                results[name].append(measure(servers[name], model, args.streams, args.tokens))
                idle[name].append(idle_loop(servers[name]))
    finally:
        for server in servers.values():
            server.stop()
    print(f"{'server':<10} {'loop µs/token':>14} {'net of idle':>12} {'process µs/token':>17} {'tok/s':>7} "
          f"{'idle loop ms/s':>15}   (medians of {args.rounds} rounds)")
    medians = {}
    for name in trees:
        rounds = list(zip(results[name], idle[name], strict=True))
        loop = statistics.median(r[0] / r[2] * 1e6 for r, _ in rounds)
        # The loop's own timers (polls, sweeps) go on during the streams: what the streams added.
        net = statistics.median((r[0] - i / 1000 * r[3]) / r[2] * 1e6 for r, i in rounds)
        total = statistics.median(r[1] / r[2] * 1e6 for r, _ in rounds)
        rate = statistics.median(r[2] / r[3] for r, _ in rounds)
        medians[name] = (loop, net, total)
        print(f"{name:<10} {loop:>14.0f} {net:>12.0f} {total:>17.0f} {rate:>7.1f} "
              f"{statistics.median(idle[name]):>15.1f}")
    if "baseline" in medians:
        (loop, net, total), (base_loop, base_net, base_total) = medians["this tree"], medians["baseline"]
        print(f"this tree / baseline: loop CPU per token {loop / base_loop:.2f}x (net of idle "
              f"{net / base_net:.2f}x), process CPU per token {total / base_total:.2f}x")


if __name__ == "__main__":
    main()
