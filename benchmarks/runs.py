"""Runs vs chat completions: aggregate generated tokens/s at 1, 4, 8, 16 concurrent requests, and run
pickup latency (created -> in_progress).

Starts its own server (the bundled model unless --model), then for each concurrency level, in the same
server and interleaved, streams N runs through the official SDK (`threads.create` then
`runs.create(stream=True)`: two requests), N runs as `threads.create_and_run(stream=True)` (one
request, the same thread and run), and N chat completions (`chat.completions.create(stream=True)`),
every one generating exactly --tokens tokens (the bundled base model does not stop early;
`max_completion_tokens` / `max_tokens` bound both). Aggregate tok/s = total completion tokens / wall
time of the whole batch.

Pickup latency is read from the event log: `thread.run.queued` (committed by the create request) to
`thread.run.in_progress` (the worker's claim), with the sub-millisecond `run_events.created_at`.

Across processes (`--cross-process`): the server runs `--no-worker` and one `assistants worker` on the
same database decodes, so the pickup is a wake-up through the log (aim < 100 ms; in one process < 10 ms).
`--pickup-only` skips the tokens/s table.

    python benchmarks/runs.py [--tokens 32] [--levels 1,4,8,16] [--rounds 3] [--model PATH]
                              [--cross-process] [--pickup-only]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.serverproc import ServerProcess, WorkerProcess  # noqa: E402


def one_run(client: openai.OpenAI, assistant_id: str, tokens: int, n: int) -> int:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"Tell story number {n}."}])
    usage = 0
    with client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id, stream=True,
                                         max_completion_tokens=tokens) as stream:
        for event in stream:
            if event.event in ("thread.run.completed", "thread.run.incomplete"):
                usage = event.data.usage.completion_tokens
    return usage


def one_create_and_run(client: openai.OpenAI, assistant_id: str, tokens: int, n: int) -> int:
    """The same turn in one request: threads.create_and_run (a new thread with the message, then the run)."""
    usage = 0
    with client.beta.threads.create_and_run(
            assistant_id=assistant_id, stream=True, max_completion_tokens=tokens,
            thread={"messages": [{"role": "user", "content": f"Tell story number {n}."}]}) as stream:
        for event in stream:
            if event.event in ("thread.run.completed", "thread.run.incomplete"):
                usage = event.data.usage.completion_tokens
    return usage


def one_chat(client: openai.OpenAI, model: str, tokens: int, n: int) -> int:
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"Tell story number {n}."}], max_tokens=tokens,
        stream=True, stream_options={"include_usage": True})
    usage = 0
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
    return usage


def batch(job, concurrency: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        produced = sum(pool.map(job, range(concurrency)))
    return time.perf_counter() - start, produced


def pickup_latencies(db_path: Path) -> list[float]:
    db = sqlite3.connect(db_path)
    try:
        rows = db.execute(
            "SELECT q.created_at, p.created_at FROM run_events q JOIN run_events p ON p.run_id = q.run_id "
            "WHERE q.event = 'thread.run.queued' AND p.event = 'thread.run.in_progress' "
            "AND p.seq = (SELECT min(seq) FROM run_events WHERE run_id = q.run_id "
            "AND event = 'thread.run.in_progress') ORDER BY q.seq").fetchall()
    finally:
        db.close()
    return [(picked - queued) * 1000 for queued, picked in rows]


def report(title: str, values: list[float]) -> None:
    ordered = sorted(values)
    print(f"{title}: n={len(ordered)} median {statistics.median(ordered):.1f} ms, "
          f"p90 {ordered[int(len(ordered) * 0.9)]:.1f} ms, max {ordered[-1]:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--levels", default="1,4,8,16")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cross-process", action="store_true",
                        help="serve --no-worker; one `assistants worker` process decodes")
    parser.add_argument("--pickup-only", action="store_true", help="only the pickup latency")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    data_dir = Path(tempfile.mkdtemp(prefix="bench-runs-"))
    extra = ["--parallel", str(max(levels)), "--ctx-size", str(1024 * max(levels))]
    if args.model:
        extra += ["--model", str(args.model)]
    # The server first: it migrates the database the worker then opens.
    serve_flags = ["--no-worker"] if args.cross_process else []
    server = ServerProcess(data_dir, *extra, *serve_flags).start(timeout=600)
    worker = None
    try:
        if args.cross_process:
            worker = WorkerProcess(data_dir, *extra).start(timeout=600)
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="bench", max_retries=0, timeout=600)
        model = client.models.list().data[0].id
        assistant = client.beta.assistants.create(model=model)
        one_chat(client, model, 4, 0)  # warm-up
        jobs = {"runs": lambda n: one_run(client, assistant.id, args.tokens, n),
                "create_and_run": lambda n: one_create_and_run(client, assistant.id, args.tokens, n),
                "chat": lambda n: one_chat(client, model, args.tokens, n)}
        if args.pickup_only:
            levels = []
        print(f"model {model}, {args.tokens} tokens per request, server --parallel {max(levels or [1])}, "
              f"median of {args.rounds} interleaved rounds")
        print("runs = threads.create + runs.create(stream); "
              "c&r = threads.create_and_run(stream), one request")
        print(f"{'concurrency':>11} {'runs tok/s':>11} {'c&r tok/s':>10} {'chat tok/s':>11} {'runs/chat':>9} "
              f"{'c&r/chat':>8}")
        for level in levels:
            # Interleaved rounds (the order rotates each round): all kinds see the same background load.
            rates: dict[str, list[float]] = {kind: [] for kind in jobs}
            kinds = list(jobs)
            for round_ in range(args.rounds):
                for kind in kinds[round_ % 3:] + kinds[:round_ % 3]:
                    job = jobs[kind]
                    elapsed, produced = batch(lambda n, job=job: job(n), level)
                    rates[kind].append(produced / elapsed)
            runs_rate, cr_rate, chat_rate = (statistics.median(rates[kind]) for kind in kinds)
            print(f"{level:>11} {runs_rate:>11.1f} {cr_rate:>10.1f} {chat_rate:>11.1f} "
                  f"{runs_rate / chat_rate:>9.2f} {cr_rate / chat_rate:>8.2f}", flush=True)
        # Pickup with room in the engine: single runs, one after another.
        for n in range(10):
            one_run(client, assistant.id, 1, n)
    finally:
        server.stop()
        if worker is not None:
            worker.stop()
    latencies = pickup_latencies(data_dir / "assistants.db")
    report("pickup latency (queued -> in_progress), all runs", latencies)
    where = "across processes" if args.cross_process else "in one process"
    report(f"pickup latency {where}, engine idle (last 10 runs, one at a time)", latencies[-10:])
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
