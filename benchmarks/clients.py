"""Engine speed through the API, whoever is watching: runs waited on by streaming or by polling, chat
through HTTP against the in-process engine, and (with `LLAMA_SERVER`) llama.cpp's own server.

    python benchmarks/clients.py [--model PATH] [--run-tokens 24] [--chat-tokens 128]
                                 [--levels 1,4,8,16] [--rounds 2] [--requests 2000]
    LLAMA_SERVER=/path/to/llama-server python benchmarks/clients.py      (benchmarks/build-llama-server.sh)

Prints, in one run:
1. runs, 8 concurrent (one thread and run each, `--run-tokens` tokens), waited on through
   `runs.stream()`, `create_and_poll(poll_interval_ms=1000)`, `poll_interval_ms=50` and with no
   interval (the server's `openai-poll-after-ms`): aggregate tok/s, the wall of the 8 against 8 x one
   run alone (same mode), HTTP requests the clients sent and the server's event-loop CPU per run;
2. the server's event-loop CPU per request: `/health`, `GET /v1/threads/{id}` (an ORM read), run
   retrieve (the live-run view), and per SSE chunk (chat and run deltas at 8 concurrent);
3. chat, streamed, greedy, `--chat-tokens` tokens, at each level: the in-process engine (our batcher,
   no HTTP: throughput.py's code, on the chat turns the server renders), our server over HTTP, and
   llama-server `-np 8` when
   `LLAMA_SERVER` is set (same prompts, same machine, interleaved rounds): aggregate tok/s and mean
   time to first token, with the ratios the issue aims at (#16): runs polled at 50 ms >= 0.9x runs
   streamed; chat at 8 through HTTP >= 0.95x in-process; chat at 8 >= 1.2x llama-server; TTFT at 8
   <= 0.6x llama-server's.

"Event-loop CPU" is the server's main thread (`/proc/<pid>/task/<pid>/stat`): HTTP, JSON, SQLite and
the event log run there, the decode threads elsewhere; it is the CPU those threads lose on 2 cores.
Measure on an idle machine (`uptime` < 1.5): the figures are ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.serverproc import ServerProcess, free_port  # noqa: E402
from throughput import PROMPTS, add_model_args, fresh, model_path, ours  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def loop_cpu(pid: int) -> float:
    """CPU seconds of a process's main thread (the event loop of our server)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Counting:
    """An httpx client for the SDK that counts the requests it sends (the poll helpers hide them)."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    def _count(self, _request: httpx.Request) -> None:
        with self._lock:
            self.requests += 1

    def client(self, base_url: str) -> openai.OpenAI:
        http = httpx.Client(event_hooks={"request": [self._count]}, timeout=600,
                            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
        return openai.OpenAI(base_url=base_url + "/v1", api_key="bench", max_retries=0, http_client=http)


# -- 1. runs, waited on four ways ---------------------------------------------------------------------

def run_job(client: openai.OpenAI, assistant_id: str, tokens: int, mode: str) -> Callable[[int], int]:
    def one(n: int) -> int:
        thread = client.beta.threads.create(messages=[{"role": "user", "content": f"Tell story number {n}."}])
        if mode == "stream":
            usage = 0
            with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id,
                                                 max_completion_tokens=tokens) as stream:
                for event in stream:
                    if event.event in ("thread.run.completed", "thread.run.incomplete"):
                        usage = event.data.usage.completion_tokens
            return usage
        interval = {"poll 1000 ms": 1000, "poll 50 ms": 50}.get(mode)
        extra = {} if interval is None else {"poll_interval_ms": interval}
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id,
                                                       max_completion_tokens=tokens, **extra)
        assert run.usage is not None, run.status
        return run.usage.completion_tokens
    return one


def batch(job: Callable[[int], int], concurrency: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        produced = sum(pool.map(job, range(concurrency)))
    return time.perf_counter() - start, produced


def runs_section(server: ServerProcess, tokens: int, rounds: int) -> dict[str, float]:
    counting = Counting()
    client = counting.client(server.base_url)
    model = client.models.list().data[0].id
    assistant = client.beta.assistants.create(model=model)
    pid = server.proc.pid if server.proc else 0
    modes = ["stream", "poll 1000 ms", "poll 50 ms", "poll (server's interval)"]
    run_job(client, assistant.id, 4, "stream")(0)  # warm-up
    alone = {mode: min(batch(run_job(client, assistant.id, tokens, mode), 1)[0] for _ in range(2))
             for mode in modes}
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    requests: dict[str, list[int]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    for round_ in range(rounds):
        for mode in modes[round_ % 4:] + modes[:round_ % 4]:
            sent, used = counting.requests, loop_cpu(pid)
            elapsed, produced = batch(run_job(client, assistant.id, tokens, mode), 8)
            cpu[mode].append((loop_cpu(pid) - used) / 8)
            requests[mode].append(counting.requests - sent)
            rates[mode].append(produced / elapsed)
            walls[mode].append(elapsed)
    print(f"\n1. runs, 8 concurrent, {tokens} tokens each (median of {rounds} interleaved rounds)")
    print(f"{'how the 8 clients wait':<26} {'tok/s':>7} {'wall/(8 x alone)':>17} {'requests':>9} "
          f"{'loop CPU ms/run':>16}")
    out = {}
    for mode in modes:
        rate = statistics.median(rates[mode])
        out[mode] = rate
        print(f"{mode:<26} {rate:>7.1f} {statistics.median(walls[mode]) / (8 * alone[mode]):>17.2f} "
              f"{statistics.median(requests[mode]):>9.0f} {statistics.median(cpu[mode]) * 1000:>16.1f}")
    print(f"ratio poll 50 ms / stream: {out['poll 50 ms'] / out['stream']:.2f} (aim >= 0.9)")
    return out


# -- 2. CPU per request and per chunk -----------------------------------------------------------------

def cpu_section(server: ServerProcess, requests: int, tokens: int) -> None:
    pid = server.proc.pid if server.proc else 0
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="bench", max_retries=0, timeout=600)
    model = client.models.list().data[0].id
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   max_completion_tokens=4)
    http = httpx.Client(base_url=server.base_url, timeout=60)

    def per_request(path: str) -> float:
        for _ in range(50):
            http.get(path).raise_for_status()
        used = loop_cpu(pid)
        for _ in range(requests):
            http.get(path)
        return (loop_cpu(pid) - used) / requests * 1e6

    print(f"\n2. server event-loop CPU, engine idle, {requests} sequential requests each")
    for label, path in (("GET /health", "/health"), ("GET thread (ORM read)", f"/v1/threads/{thread.id}"),
                        ("GET run (live-run view)", f"/v1/threads/{thread.id}/runs/{run.id}")):
        print(f"{label:<28} {per_request(path):>7.0f} µs/request")

    def chat_chunks(n: int) -> int:
        stream = client.chat.completions.create(model=model, max_tokens=tokens, stream=True,
                                                messages=[{"role": "user", "content": PROMPTS[n % 16]}])
        return sum(1 for _ in stream)

    def run_chunks(n: int) -> int:
        t = client.beta.threads.create(messages=[{"role": "user", "content": PROMPTS[n % 16]}])
        with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=assistant.id,
                                             max_completion_tokens=tokens) as stream:
            return sum(1 for event in stream if event.event == "thread.message.delta")

    # The loop's own idle work (event-tail poll, sweeps, heartbeats) goes on during the streams too.
    used, started = loop_cpu(pid), time.perf_counter()
    time.sleep(3)
    idle = (loop_cpu(pid) - used) / (time.perf_counter() - started)
    print(f"{'idle event loop':<28} {idle * 1000:>7.1f} ms CPU per second")
    for label, job in (("chat chunk", chat_chunks), ("run delta event", run_chunks)):
        used = loop_cpu(pid)
        elapsed, chunks = batch(job, 8)
        spent = loop_cpu(pid) - used
        print(f"per SSE {label:<20} {spent / chunks * 1e6:>7.0f} µs (8 concurrent, {chunks} chunks, "
              f"whole requests included; {spent - idle * elapsed:+.2f} s against an idle loop)")


# -- 3. chat: in-process, HTTP, llama-server ----------------------------------------------------------

def chat_job(client: openai.OpenAI, model: str, tokens: int) -> Callable[[int], tuple[float, int]]:
    def one(n: int) -> tuple[float, int]:
        started, first, produced = time.perf_counter(), None, 0
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": fresh(PROMPTS[n % len(PROMPTS)])}],
            max_tokens=tokens,
            temperature=0, stream=True, stream_options={"include_usage": True})
        for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
            if chunk.usage is not None:
                produced = chunk.usage.completion_tokens
        return first or 0.0, produced
    return one


def chat_level(job: Callable[[int], tuple[float, int]], level: int) -> tuple[float, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(level) as pool:
        results = list(pool.map(job, range(level)))
    elapsed = time.perf_counter() - started
    return sum(n for _, n in results) / elapsed, statistics.mean(t for t, _ in results)


def start_llama_server(binary: str, model: Path, ctx: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([binary, "-m", str(model), "-np", "8", "-c", str(ctx), "--port", str(port),
                             "--host", "127.0.0.1", "-t", str(os.cpu_count() or 2)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise TimeoutError("llama-server did not become healthy")


def chat_section(server: ServerProcess, in_process: dict[int, dict[str, float]], levels: list[int],
                 tokens: int, rounds: int, llama: str | None) -> None:
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="bench", max_retries=0, timeout=600)
    model = client.models.list().data[0].id
    jobs = {"http": chat_job(client, model, tokens)}
    if llama is not None:
        other = openai.OpenAI(base_url=llama + "/v1", api_key="bench", max_retries=0, timeout=600)
        jobs["llama-server"] = chat_job(other, "default", tokens)
    for job in jobs.values():
        job(0)  # warm-up
    print(f"\n3. chat, streamed, greedy, {tokens} tokens (median of {rounds} interleaved rounds)")
    print(f"{'conc.':>5} {'in-process':>11} {'HTTP':>7} {'HTTP/in-proc':>12} {'TTFT HTTP':>9}"
          + (f" {'llama-server':>12} {'ours/llama':>10} {'TTFT llama':>10} {'TTFT ours/llama':>15}"
             if llama else ""))
    for level in levels:
        rates: dict[str, list[float]] = {kind: [] for kind in jobs}
        ttfts: dict[str, list[float]] = {kind: [] for kind in jobs}
        kinds = list(jobs)
        for round_ in range(rounds):
            for kind in kinds[round_ % len(kinds):] + kinds[:round_ % len(kinds)]:
                rate, ttft = chat_level(jobs[kind], level)
                rates[kind].append(rate)
                ttfts[kind].append(ttft)
        http, ttft = statistics.median(rates["http"]), statistics.median(ttfts["http"])
        inproc = in_process[level]["tok_s"]
        line = f"{level:>5} {inproc:>11.1f} {http:>7.1f} {http / inproc:>12.2f} {ttft:>8.2f}s"
        if llama:
            lrate, lttft = statistics.median(rates["llama-server"]), statistics.median(ttfts["llama-server"])
            line += f" {lrate:>12.1f} {http / lrate:>10.2f} {lttft:>9.2f}s {ttft / lttft:>15.2f}"
        print(line, flush=True)
    print("aims at 8: HTTP/in-process >= 0.95" + ("; ours/llama-server >= 1.2; TTFT ours/llama <= 0.6"
                                                  if llama else " (set LLAMA_SERVER for llama-server)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--run-tokens", type=int, default=24)
    parser.add_argument("--chat-tokens", type=int, default=128)
    parser.add_argument("--levels", default="1,4,8,16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=2000, help="requests per CPU-per-request figure")
    parser.add_argument("--skip", default="", help="sections to leave out, e.g. 'chat' or 'runs,cpu'")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    path = model_path(args)
    parallel = max([*levels, 8])
    print(f"model {path.name}, server --parallel {parallel}, load average {os.getloadavg()[0]:.2f}")
    in_process = {}
    if "chat" not in skip:  # first, alone: no server holds the cores yet
        # The chat turns the server renders, so both sides decode the same tokens.
        in_process = asyncio.run(ours(path, None, args.chat_tokens, levels, 1, chat=True))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-clients-"))
    server = ServerProcess(data_dir, "--model", str(path), "--parallel", str(parallel),
                           "--ctx-size", str(1024 * parallel)).start(timeout=600)
    llama_proc = None
    try:
        if "runs" not in skip:
            runs_section(server, args.run_tokens, args.rounds)
        if "cpu" not in skip:
            cpu_section(server, args.requests, args.run_tokens)
        if "chat" not in skip:
            llama = None
            if os.environ.get("LLAMA_SERVER"):
                llama_proc, llama = start_llama_server(os.environ["LLAMA_SERVER"], path, 1024 * 8)
            chat_section(server, in_process, levels, args.chat_tokens, args.rounds, llama)
    finally:
        if llama_proc is not None:
            llama_proc.terminate()
            llama_proc.wait(30)
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
