"""Two models on one server: load time, first-request latency after --sleep-idle, aggregate tokens/s
with two models decoding at once vs one, and a small quality / tool-call / JSON set per model
(the README's own example, `Hello` through `create_and_run_poll`, first).

Starts its own server with the bundled models (no --model: SmolLM2-135M-Instruct and Gemma 3 270M),
or the two given with --models-dir (every model in it is compared), drives it with the official SDK.

    python benchmarks/models.py [--streams 4] [--tokens 64] [--sleep-idle 3] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.serverproc import ServerProcess  # noqa: E402

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
FACTS = [("What is the capital of France? Answer in one word.", "paris"),
         ("What is 2 + 2? Answer with a number.", "4"),
         ("What colour is the sky on a clear day? Answer in one word.", "blue"),
         ("Which animal says 'moo'? Answer in one word.", "cow")]


def models_status(base: str) -> dict[str, dict[str, Any]]:
    rows = httpx.get(base + "/v1/models", timeout=60).json()["data"]
    return {row["id"]: row for row in rows}


def wait_state(base: str, model: str, state: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while models_status(base)[model]["status"]["value"] != state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{model} never became {state}")
        time.sleep(0.1)


def chat_tokens(client: openai.OpenAI, model: str, tokens: int, n: int) -> int:
    stream = client.chat.completions.create(
        model=model, max_tokens=tokens, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": f"Write a long story about a lighthouse keeper, part {n}."}])
    produced = 0
    for chunk in stream:
        if chunk.usage is not None:
            produced = chunk.usage.completion_tokens
    return produced


def first_token(client: openai.OpenAI, model: str) -> float:
    """Seconds for a one-token chat answer (a reload included when the model sleeps)."""
    start = time.perf_counter()
    client.chat.completions.create(model=model, max_tokens=1, messages=[{"role": "user", "content": "Hi"}])
    return time.perf_counter() - start


def aggregate(client: openai.OpenAI, jobs: list[str], tokens: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        produced = sum(pool.map(lambda job: chat_tokens(client, job[1], tokens, job[0]), enumerate(jobs)))
    return produced / (time.perf_counter() - start), produced


def readme_example(client: openai.OpenAI, model: str) -> str:
    asst = client.beta.assistants.create(model=model, instructions="Be brief.")
    start = time.perf_counter()
    run = client.beta.threads.create_and_run_poll(
        assistant_id=asst.id, thread={"messages": [{"role": "user", "content": "Hello"}]},
        poll_interval_ms=50)
    took = time.perf_counter() - start
    text = ""
    if run.status in ("completed", "incomplete"):
        messages = client.beta.threads.messages.list(thread_id=run.thread_id, order="desc", limit=1)
        block = messages.data[0].content[0] if messages.data and messages.data[0].content else None
        text = getattr(getattr(block, "text", None), "value", "")
    tokens = run.usage.completion_tokens if run.usage else 0
    return f"{run.status:<10} {took:6.2f} s {tokens:5d} tokens  {text[:60]!r}"


def quality(client: openai.OpenAI, model: str) -> list[str]:
    lines = [f"  README example (Hello, create_and_run_poll): {readme_example(client, model)}"]
    right = 0
    for question, expected in FACTS:
        answer = client.chat.completions.create(model=model, temperature=0, max_tokens=24,
                                                messages=[{"role": "user", "content": question}])
        text = answer.choices[0].message.content or ""
        right += expected in text.lower()
        lines.append(f"    {question[:46]:<46} -> {text.strip()[:50]!r}")
    lines.append(f"  facts: {right}/{len(FACTS)} contain the expected word")
    start = time.perf_counter()
    answer = client.chat.completions.create(
        model=model, temperature=0, max_tokens=64, response_format={"type": "json_object"},
        messages=[{"role": "user",
                   "content": "Give a JSON object with the keys name and age for Ann, aged 30."}])
    text = answer.choices[0].message.content or ""
    try:
        value = json.loads(text)
        has = isinstance(value, dict) and {"name", "age"} <= set(value)
    except json.JSONDecodeError:
        has = False
    took = time.perf_counter() - start
    lines.append(f"  json_object: keys name+age {'yes' if has else 'no '} ({took:.2f} s) {text[:60]!r}")
    for choice in ("auto", "required"):
        answer = client.chat.completions.create(
            model=model, temperature=0, max_tokens=64, tools=[WEATHER], tool_choice=choice,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "What is the weather in Paris?"}])
        calls = answer.choices[0].message.tool_calls or []
        args = calls[0].function.arguments if calls else ""  # type: ignore[union-attr]
        paris = "paris" in args.lower()
        lines.append(f"  tools ({choice:<8}): {len(calls)} call(s), city Paris {'yes' if paris else 'no '} "
                     f"{args[:50] or (answer.choices[0].message.content or '')[:50]!r}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=4, help="concurrent streams per model")
    parser.add_argument("--tokens", type=int, default=64, help="max tokens per stream")
    parser.add_argument("--sleep-idle", type=float, default=3.0)
    parser.add_argument("--models-dir", type=Path, help="compare the models in this dir (default: bundled)")
    args = parser.parse_args()
    flags = ["--parallel", str(2 * args.streams), "--ctx-size", "8192", "--sleep-idle", str(args.sleep_idle)]
    if args.models_dir is not None:
        flags += ["--models-dir", str(args.models_dir)]
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp), *flags) as server:
        base = server.base_url
        client = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0, timeout=900)
        ids = [model for model, row in models_status(base).items() if row["status"]["value"] != "unavailable"]
        if args.models_dir is not None:
            ids = ids[1:]  # the directory's models, not the default beside them
        a, b = ids[:2]
        print(f"models: {a} (A), {b} (B); {args.streams} streams per model, {args.tokens} tokens each, "
              f"--sleep-idle {args.sleep_idle}")
        for model in (a, b):
            httpx.post(base + "/models/load", json={"model": model}, timeout=900).raise_for_status()
            row = models_status(base)[model]
            print(f"load {model}: {row['status']['load_seconds']:.2f} s "
                  f"({row['meta']['size'] / 2**20:.0f} MiB, {row['meta']['n_vocab']} vocab)")
        for model in (a, b):
            chat_tokens(client, model, 8, 0)  # warm
            warm = first_token(client, model)
            wait_state(base, model, "sleeping", timeout=args.sleep_idle * 10 + 60)
            after_sleep = first_token(client, model)
            print(f"first request after sleep, {model}: {after_sleep:.2f} s (warm: {warm:.2f} s)")
        for model in (a, b):
            httpx.post(base + "/models/load", json={"model": model}, timeout=900).raise_for_status()
        one_a, n_a = aggregate(client, [a] * args.streams, args.tokens)
        one_b, n_b = aggregate(client, [b] * args.streams, args.tokens)
        both, n_ab = aggregate(client, [a, b] * args.streams, args.tokens)
        print(f"aggregate tok/s: A alone {one_a:.1f} ({n_a} tok), B alone {one_b:.1f} ({n_b} tok), "
              f"A+B at once {both:.1f} ({n_ab} tok) = {both / max(one_a, one_b):.2f}x the faster alone")
        for model in (a, b):
            print(f"quality set, {model}:")
            for line in quality(client, model):
                print(line)


if __name__ == "__main__":
    main()
