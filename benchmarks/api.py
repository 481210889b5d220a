"""Throughput and latency of the store routes next to the trivial `/health`, measured in one run.

    python benchmarks/api.py [--clients 32] [--seconds 5] [--rounds 2]

Starts the real server (`--no-model`, its own temporary data dir), then for each scenario runs
`--clients` concurrent keep-alive clients (httpx, asyncio) for `--seconds`, in `--rounds` interleaved
rounds (so a load change on the machine hits every scenario alike). Prints requests/s, p50 and p99
latency per scenario and each scenario's throughput as a ratio of `/health`'s.

The client runs on the same machine and takes CPU from the server, so observed throughput can be bound
by the client (then every ratio drifts toward 1). The server's own CPU time per request (from
/proc/<pid>/stat, all its threads) is therefore printed too: `capacity` is health's CPU per request
divided by the route's, i.e. the throughput ratio a CPU-bound server would reach.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serverproc import ServerProcess

Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def measure(base_url: str, request: Request, clients: int, seconds: float) -> list[float]:
    """Latencies (s) of every request completed by `clients` loops within `seconds`."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as http:
        deadline = time.perf_counter() + seconds

        async def loop() -> None:
            while (start := time.perf_counter()) < deadline:
                response = await request(http)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(loop() for _ in range(clients)))
    return latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all threads), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def setup(base_url: str) -> dict[str, str]:
    with httpx.Client(base_url=base_url) as http:
        write_thread = http.post("/v1/threads", json={}).json()["id"]
        read_thread = http.post(
            "/v1/threads",
            json={
                "messages": [
                    {"role": "user", "content": f"message {i} " + "lorem ipsum " * 8} for i in range(40)
                ]
            },
        ).json()["id"]
    return {"write": write_thread, "read": read_thread}


def scenarios(threads: dict[str, str]) -> dict[str, Request]:
    body = {"role": "user", "content": "Hello, how are you today?", "metadata": {"source": "bench"}}
    return {
        "GET /health": lambda http: http.get("/health"),
        "POST messages (create)": lambda http: http.post(
            f"/v1/threads/{threads['write']}/messages", json=body
        ),
        "GET messages (list 20)": lambda http: http.get(f"/v1/threads/{threads['read']}/messages"),
        "GET thread (retrieve)": lambda http: http.get(f"/v1/threads/{threads['read']}"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir, ServerProcess(Path(data_dir), "--no-model") as server:
        routes = scenarios(setup(server.base_url))
        results: dict[str, list[float]] = {name: [] for name in routes}
        elapsed: dict[str, float] = dict.fromkeys(routes, 0.0)
        server_cpu: dict[str, float] = dict.fromkeys(routes, 0.0)
        assert server.proc is not None
        pid = server.proc.pid
        for request in routes.values():  # warm-up: imports, statement caches, connections
            asyncio.run(measure(server.base_url, request, args.clients, 0.5))
        for _ in range(args.rounds):
            for name, request in routes.items():
                cpu_before = cpu_seconds(pid)
                results[name] += asyncio.run(measure(server.base_url, request, args.clients, args.seconds))
                server_cpu[name] += cpu_seconds(pid) - cpu_before
                elapsed[name] += args.seconds

    baseline = len(results["GET /health"]) / elapsed["GET /health"]
    base_cpu = server_cpu["GET /health"] / len(results["GET /health"])
    print(f"{args.clients} clients, {args.rounds} x {args.seconds:g} s per scenario")
    print(
        f"{'scenario':<26}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'vs health':>11}"
        f"{'server CPU us/req':>19}{'capacity':>10}"
    )
    for name, latencies in results.items():
        rate = len(latencies) / elapsed[name]
        cuts = statistics.quantiles(latencies, n=100)
        cpu = server_cpu[name] / len(latencies)
        print(
            f"{name:<26}{rate:>8.0f}{cuts[49] * 1000:>9.1f}{cuts[98] * 1000:>9.1f}{rate / baseline:>10.2f}x"
            f"{cpu * 1e6:>19.0f}{base_cpu / cpu:>9.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
