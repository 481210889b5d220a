"""Scale-out figures in one run: store backends, API processes on PostgreSQL, a remote engine.

    python benchmarks/scale.py [--runs 64] [--levels 1,2,4] [--clients 32] [--seconds 5]
                               [--tokens 32] [--concurrency 8] [--rounds 2] [--model PATH]
                               [--wrk PATH] [--steps 1,2,3]

1. Runs/s and pickup latency on SQLite vs PostgreSQL, one `serve` process each (the bundled model,
   --parallel 8): --runs `create_and_run` runs of 1 token each, sent from 8 client threads; runs/s =
   runs / (first create -> last terminal); pickup = `thread.run.queued` -> `thread.run.in_progress`
   in the event log (its sub-millisecond `created_at`), p50 and p95.
2. PostgreSQL with 1, 2, 4 `serve --no-model --no-worker` processes on the database of step 1:
   --clients keep-alive clients, spread round-robin over the processes, each looping create message /
   list messages / stream (replay a completed run's events to its end), for --seconds per level and
   --rounds interleaved rounds. Prints CRUD req/s (create + list) and streams/s per level, and the
   CRUD ratio to 1 process (aim >= 1.6x at 2 on these 2 cores). These Python clients share the
   machine's cores with the servers, so that ratio is a floor. With `wrk` (--wrk, default the one on
   PATH; Debian's `wrk` package; a benchmark tool, never a dependency) each round also drives the
   CRUD half alone from C: one `wrk -t1` per API process with --clients / N connections each,
   alternating create / list (`benchmarks/scale_crud.lua`), and prints that req/s and its ratio too.
   Without step 1 (--steps 2,3) there is no completed run to replay, and the streams are left out.
3. Aggregate tokens/s of --concurrency streamed chat completions of --tokens greedy tokens: straight
   to an in-process server (`serve --no-worker`, the model) vs through a second server with
   `--engine openai` pointed at it (aim >= 0.9x), interleaved over --rounds.

Needs PostgreSQL (`ASSISTANTS_TEST_PG_URL`, default the local server; scripts/ensure-postgres). Figures
mean something only on an idle machine (`uptime` load < 1.5).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.pgdatabase import fresh_database, query  # noqa: E402
from tests.serverproc import ServerProcess  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)  # the SDK marks the Assistants API deprecated
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}
PICKUP_SQL = (
    "SELECT q.created_at, p.created_at FROM run_events q JOIN run_events p ON p.run_id = q.run_id "
    "WHERE q.event = 'thread.run.queued' AND p.event = 'thread.run.in_progress' "
    "AND p.seq = (SELECT min(seq) FROM run_events WHERE run_id = q.run_id "
    "AND event = 'thread.run.in_progress')")


def client_for(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="bench", max_retries=0, timeout=600)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


# -- 1. runs/s and pickup, SQLite vs PostgreSQL ------------------------------------------------------


def runs_per_second(server: ServerProcess, runs: int) -> tuple[float, list[str]]:
    client = client_for(server)
    assistant = client.beta.assistants.create(model="default")
    start = time.perf_counter()

    def one(n: int) -> tuple[str, str]:
        run = client.beta.threads.create_and_run(
            assistant_id=assistant.id, max_completion_tokens=1,
            thread={"messages": [{"role": "user", "content": f"Run {n}."}]})
        return run.id, run.thread_id

    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(one, range(runs)))
    for run_id, thread_id in created:
        while client.beta.threads.runs.retrieve(run_id, thread_id=thread_id).status not in TERMINAL:
            time.sleep(0.02)
    return runs / (time.perf_counter() - start), [run_id for run_id, _ in created]


def backends(args: argparse.Namespace, model: Path, pg_url: str) -> None:
    print(f"== 1. runs/s and pickup, one process, {args.runs} runs of 1 token, 8 client threads")
    for name in ("sqlite", "postgres"):
        data_dir = Path(tempfile.mkdtemp(prefix=f"scale-{name}-"))
        db = ("--db", pg_url) if name == "postgres" else ()
        with ServerProcess(data_dir, "--model", str(model), "--parallel", "8", *db) as server:
            rate, _ = runs_per_second(server, args.runs)
        if name == "postgres":
            rows = query(pg_url, PICKUP_SQL)
        else:
            connection = sqlite3.connect(data_dir / "assistants.db")
            rows = connection.execute(PICKUP_SQL).fetchall()
            connection.close()
        pickups = [(picked - queued) * 1000 for queued, picked in rows]
        print(f"{name:>9}: {rate:6.1f} runs/s; pickup p50 {statistics.median(pickups):6.1f} ms, "
              f"p95 {percentile(pickups, 0.95):6.1f} ms (n={len(pickups)})")


# -- 2. API processes on PostgreSQL ------------------------------------------------------------------


WRK_SCRIPT = Path(__file__).resolve().with_name("scale_crud.lua")


def prepare_load(base_url: str, pg_url: str) -> dict[str, str]:
    """A thread to write to, one with 40 messages to list, and a completed run to replay (step 1's;
    none when step 1 did not run)."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        write = http.post("/v1/threads", json={}).json()["id"]
        messages = [{"role": "user", "content": f"message {i} " + "lorem ipsum " * 8} for i in range(40)]
        read = http.post("/v1/threads", json={"messages": messages}).json()["id"]
    finished = "SELECT id, thread_id FROM runs WHERE status IN ('completed', 'incomplete') LIMIT 1"
    ids = {"write": write, "read": read}
    for run_id, thread_id in query(pg_url, finished):
        ids.update(run=run_id, run_thread=thread_id)
    return ids


async def mixed_load(urls: list[str], ids: dict[str, str], clients: int, seconds: float) -> tuple[int, int]:
    """(CRUD requests, streams) completed by `clients` loops of create / list / stream in `seconds`."""
    counts = {"crud": 0, "stream": 0}
    body = {"role": "user", "content": "Hello, how are you today?"}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    https = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for url in urls]

    async def loop(n: int) -> None:
        http = https[n % len(https)]
        for step in itertools.cycle(("create", "list", "stream") if "run" in ids else ("create", "list")):
            if time.perf_counter() >= deadline:
                return
            if step == "create":
                response = await http.post(f"/v1/threads/{ids['write']}/messages", json=body)
            elif step == "list":
                response = await http.get(f"/v1/threads/{ids['read']}/messages", params={"limit": 20})
            else:
                path = f"/v1/threads/{ids['run_thread']}/runs/{ids['run']}/events"
                async with http.stream("GET", path) as response:
                    async for _ in response.aiter_lines():
                        pass
            if response.status_code != 200:
                raise RuntimeError(f"{step}: {response.status_code}")
            counts["crud" if step != "stream" else "stream"] += 1

    try:
        await asyncio.gather(*(loop(n) for n in range(clients)))
    finally:
        for http in https:
            await http.aclose()
    return counts["crud"], counts["stream"]


def wrk_crud(wrk: str, urls: list[str], ids: dict[str, str], clients: int, seconds: float) -> float:
    """CRUD req/s from one `wrk -t1` per API process at once, `clients` connections in all."""
    connections = max(1, clients // len(urls))
    procs = [subprocess.Popen([wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(WRK_SCRIPT), url,
                               "--", ids["write"], ids["read"]], stdout=subprocess.PIPE, text=True)
             for url in urls]
    total = 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        if proc.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"wrk failed or saw errors:\n{out}")
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if match is None:
            raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
        total += float(match.group(1))
    return total


def api_processes(args: argparse.Namespace, pg_url: str) -> None:
    levels = [int(level) for level in args.levels.split(",")]
    print(f"== 2. PostgreSQL, {'/'.join(map(str, levels))} API processes, {args.clients} clients, "
          f"create/list/stream, {args.seconds:g} s x {args.rounds} rounds")
    data_dir = Path(tempfile.mkdtemp(prefix="scale-apis-"))
    servers = [ServerProcess(data_dir, "--no-model", "--no-worker", "--db", pg_url)
               for _ in range(max(levels))]
    for server in servers:
        server.start()
    try:
        ids = prepare_load(servers[0].base_url, pg_url)
        results: dict[int, list[tuple[float, float]]] = {level: [] for level in levels}
        by_wrk: dict[int, list[float]] = {level: [] for level in levels}
        for _ in range(args.rounds):
            for level in levels:
                urls = [s.base_url for s in servers[:level]]
                crud, streams = asyncio.run(mixed_load(urls, ids, args.clients, args.seconds))
                results[level].append((crud / args.seconds, streams / args.seconds))
                if args.wrk:
                    by_wrk[level].append(wrk_crud(args.wrk, urls, ids, args.clients, args.seconds))
        base = statistics.median(crud for crud, _ in results[levels[0]])
        print("python clients (create / list / stream loops):" if "run" in ids else
              "python clients (create / list loops; no completed run to stream: step 1 did not run):")
        for level in levels:
            crud = statistics.median(c for c, _ in results[level])
            streams = statistics.median(s for _, s in results[level])
            print(f"{level} process(es): {crud:7.1f} CRUD req/s, {streams:6.1f} streams/s, "
                  f"CRUD {crud / base:.2f}x {levels[0]} process")
        if not args.wrk:
            print("wrk: not found (apt-get install wrk, or --wrk PATH): no C-driven CRUD figures")
            return
        print(f"wrk (create / list, {args.clients} connections in all, one wrk -t1 per process):")
        wrk_base = statistics.median(by_wrk[levels[0]])
        for level in levels:
            rate = statistics.median(by_wrk[level])
            print(f"{level} process(es): {rate:7.1f} CRUD req/s, CRUD {rate / wrk_base:.2f}x "
                  f"{levels[0]} process (aim >= 1.6x at 2)")
    finally:
        for server in servers:
            server.stop()


# -- 3. remote engine vs in-process ------------------------------------------------------------------


def aggregate_tokens_per_second(client: openai.OpenAI, concurrency: int, tokens: int) -> float:
    def one(n: int) -> int:
        stream = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": f"Tell story number {n}."}],
            max_tokens=tokens, temperature=0, stream=True, stream_options={"include_usage": True})
        usage = [chunk.usage for chunk in stream if chunk.usage is not None]
        return usage[-1].completion_tokens if usage else 0

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        produced = sum(pool.map(one, range(concurrency)))
    return produced / (time.perf_counter() - start)


def remote_engine(args: argparse.Namespace, model: Path) -> None:
    print(f"== 3. {args.concurrency} concurrent streamed chat completions of {args.tokens} greedy tokens, "
          f"{args.rounds} rounds")
    engine = ServerProcess(Path(tempfile.mkdtemp(prefix="scale-engine-")), "--model", str(model),
                           "--parallel", str(args.concurrency), "--no-worker")
    front = ServerProcess(Path(tempfile.mkdtemp(prefix="scale-front-")), "--engine", "openai",
                          "--engine-url", engine.base_url, "--no-worker")
    with engine, front:
        measured: dict[str, list[float]] = {"in-process": [], "remote": []}
        clients: dict[str, Callable[[], openai.OpenAI]] = {
            "in-process": lambda: client_for(engine), "remote": lambda: client_for(front)}
        aggregate_tokens_per_second(client_for(engine), 1, 4)  # warm up both paths once
        aggregate_tokens_per_second(client_for(front), 1, 4)
        for _ in range(args.rounds):
            for name, make in clients.items():
                measured[name].append(aggregate_tokens_per_second(make(), args.concurrency, args.tokens))
    local, remote = (statistics.median(measured[name]) for name in ("in-process", "remote"))
    print(f"in-process: {local:6.1f} tok/s; through --engine openai: {remote:6.1f} tok/s; "
          f"ratio {remote / local:.2f} (aim >= 0.9)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--levels", default="1,2,4")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--model", type=Path, help="GGUF file (default: the bundled model)")
    parser.add_argument("--wrk", default=shutil.which("wrk"), help="wrk binary (default: on PATH)")
    parser.add_argument("--steps", default="1,2,3", help="which of the three parts to run")
    args = parser.parse_args()
    steps = {int(step) for step in args.steps.split(",")}
    if args.model is None and steps & {1, 3}:
        from assistants.inference.bundled import ensure_bundled_model

        args.model = ensure_bundled_model(Path(tempfile.gettempdir()) / "assistants-bench-model")
    if steps & {1, 2}:
        with fresh_database("scale") as pg_url:
            if 1 in steps:
                backends(args, args.model, pg_url)
            if 2 in steps:
                api_processes(args, pg_url)
    if 3 in steps:
        remote_engine(args, args.model)


if __name__ == "__main__":
    main()
