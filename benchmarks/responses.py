"""Responses vs chat completions: aggregate generated tokens/s at 1, 4 and 8 concurrent requests, and
the first-token time of a 10-turn `previous_response_id` chain's last turn against the same prompt cold.

Starts its own server (the bundled model unless --model). Per concurrency level, interleaved in the
same server: N streamed responses (`responses.create(stream=True)`, `max_output_tokens`) and N
streamed chat completions (`max_tokens`), every one generating exactly --tokens tokens (the bundled
base model does not stop early). Aggregate tok/s = total output tokens / wall time of the batch.

Chain TTFT: a chain of 10 responses (each `previous_response_id` = the one before), then the time from
sending the 10th turn to its first `response.output_text.delta`. "Cold" sends the same history as
explicit input items (`store=false`) behind a one-word system prompt, so no cached prefix can match:
a prefix KV cache (the warm-threads work) shows as warm < cold; without one both cost the same.

Each chain round uses its own texts (nothing cached by an earlier round matches); the figure is the
median over --rounds of each round's warm / cold ratio, with the cached tokens the warm turn reported.
`--parts chain` measures the chain alone (a smaller server: --parallel 2). `--words N` pads each turn's
user text with N words (multiturn.py's filler): the default 0 gives a ~450-token last turn, where the
warm turn still prefills up to a prompt chunk (128 tokens) plus the new text, because a cached prefix
is reused to a multiple of the chunk (kvcache.PrefixCache.align: warm == cold, bit for bit); `--words
130` gives the warm-threads benchmark's ~2,000 tokens, where that remainder weighs less.

    python benchmarks/responses.py [--tokens 32] [--levels 1,4,8] [--rounds 3] [--model PATH]
                                   [--parts throughput,chain] [--words 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from multiturn import message  # noqa: E402  (the same filler text as the warm-threads benchmark)
from tests.serverproc import ServerProcess  # noqa: E402


def one_response(client: openai.OpenAI, model: str, tokens: int, n: int) -> int:
    stream = client.responses.create(model=model, input=f"Tell story number {n}.", max_output_tokens=tokens,
                                     stream=True)
    produced = 0
    for event in stream:
        if event.type in ("response.completed", "response.incomplete"):
            produced = event.response.usage.output_tokens  # type: ignore[union-attr]
    return produced


def one_chat(client: openai.OpenAI, model: str, tokens: int, n: int) -> int:
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"Tell story number {n}."}], max_tokens=tokens,
        stream=True, stream_options={"include_usage": True})
    produced = 0
    for chunk in stream:
        if chunk.usage is not None:
            produced = chunk.usage.completion_tokens
    return produced


def batch(job: Any, concurrency: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        produced = sum(pool.map(job, range(concurrency)))
    return time.perf_counter() - start, produced


SERVER_PID = 0


def server_cpu_seconds() -> float:
    """User + system CPU time the server process has used (/proc): a measure the machine's other load
    does not inflate as it does wall time."""
    fields = Path(f"/proc/{SERVER_PID}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_token_seconds(client: openai.OpenAI, **fields: Any) -> tuple[float, int, float]:
    """(seconds to the first text delta, the cached input tokens the response reported, the server's
    CPU seconds for the whole request: its prompt and 4 output tokens)."""
    cpu = server_cpu_seconds()
    start = time.perf_counter()
    stream = client.responses.create(stream=True, max_output_tokens=4, **fields)
    seconds = float("nan")
    cached = 0
    for event in stream:
        if event.type == "response.output_text.delta" and seconds != seconds:
            seconds = time.perf_counter() - start
        if event.type in ("response.completed", "response.incomplete"):
            cached = event.response.usage.input_tokens_details.cached_tokens  # type: ignore[union-attr]
    return seconds, cached, server_cpu_seconds() - cpu


def chain_ttft(client: openai.OpenAI, model: str, turns: int = 10, round_: int = 0,
               words: int = 0) -> tuple[float, float, int, int, float]:
    """(warm last-turn TTFT, cold TTFT of the same history, the last turn's input tokens, how many of
    them the warm turn found cached, warm / cold server CPU time)."""
    previous: str | None = None
    history: list[dict[str, Any]] = []
    for turn in range(turns - 1):
        text = f"Turn {turn}: tell me one fact about the number {turn + 10 * round_}."
        if words:
            text += " " + message(turn + 10 * round_, words)
        response = client.responses.create(model=model, input=text, previous_response_id=previous,
                                           max_output_tokens=24, temperature=0)
        previous = response.id
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": response.output_text}]
    last = "Last turn: say goodbye."
    warm, cached, warm_cpu = first_token_seconds(client, model=model, input=last,
                                                 previous_response_id=previous, temperature=0)
    cold, _, cold_cpu = first_token_seconds(client, model=model,
                                            input=[*history, {"role": "user", "content": last}],
                                            instructions=f"Cold {round_}.", store=False, temperature=0)
    counted = client.responses.input_tokens.count(model=model, input=last, previous_response_id=previous)
    return warm, cold, counted.input_tokens, cached, warm_cpu / cold_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="throughput,chain", help="which parts to run")
    parser.add_argument("--words", type=int, default=0, help="filler words per chain turn")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    levels = [int(level) for level in args.levels.split(",")] if "throughput" in parts else [2]

    data_dir = Path(tempfile.mkdtemp(prefix="bench-responses-"))
    extra = ["--parallel", str(max(levels)), "--ctx-size", str(2048 * max(levels))]
    if args.model:
        extra += ["--model", str(args.model)]
    server = ServerProcess(data_dir, *extra).start(timeout=600)
    global SERVER_PID
    SERVER_PID = server.proc.pid  # type: ignore[union-attr]
    try:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="bench", max_retries=0, timeout=600)
        model = client.models.list().data[0].id
        one_chat(client, model, 4, 0)  # warm-up
        jobs = {"responses": lambda n: one_response(client, model, args.tokens, n),
                "chat": lambda n: one_chat(client, model, args.tokens, n)}
        print(f"model {model}, {args.tokens} tokens per request, server --parallel {max(levels)}, "
              f"median of {args.rounds} interleaved rounds")
        if "throughput" in parts:
            print(f"{'concurrency':>11} {'responses tok/s':>15} {'chat tok/s':>11} {'responses/chat':>14}")
        for level in levels if "throughput" in parts else []:
            rates: dict[str, list[float]] = {kind: [] for kind in jobs}
            kinds = list(jobs)
            for round_ in range(args.rounds):
                for kind in kinds[round_ % 2:] + kinds[:round_ % 2]:
                    elapsed, produced = batch(jobs[kind], level)
                    rates[kind].append(produced / elapsed)
            responses_rate, chat_rate = (statistics.median(rates[kind]) for kind in kinds)
            ratio = responses_rate / chat_rate
            print(f"{level:>11} {responses_rate:>15.1f} {chat_rate:>11.1f} {ratio:>14.2f}", flush=True)
        if "chain" in parts:
            rounds = [chain_ttft(client, model, round_=r, words=args.words) for r in range(args.rounds)]
            warm, cold, tokens, cached, _ = min(rounds, key=lambda r: abs(r[0] / r[1] - statistics.median(
                x[0] / x[1] for x in rounds)))  # the median round
            print(f"10-turn previous_response_id chain, last turn ({tokens} input tokens, {cached} cached): "
                  f"TTFT {warm * 1000:.0f} ms vs the same history cold {cold * 1000:.0f} ms "
                  f"({warm / cold:.2f}x; rounds {', '.join(f'{r[0] / r[1]:.2f}' for r in rounds)}); "
                  f"server CPU time warm/cold {statistics.median(r[4] for r in rounds):.2f}x "
                  f"(rounds {', '.join(f'{r[4]:.2f}' for r in rounds)})")
    finally:
        server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
