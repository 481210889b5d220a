"""Warm threads: time to first token at the last turn of a grown conversation, warm vs cold.

Starts its own server (defaults, the bundled model unless --model) and, through the official SDK:
1. grows a thread over --turns turns (a user message of --words words, then a run of --tokens tokens),
   timing each run's first `thread.message.delta`;
2. cold: the same history in a fresh thread whose assistant's instructions differ in their first word,
   so no cached prefix applies (only the BOS and turn marker match);
3. restored: stops the server, starts it again on the same data dir, adds one more turn to the warm
   thread (its prefix comes back from disk) and times it beside the same history cold;
4. chat: the same conversation re-sent turn by turn through /v1/chat/completions (streamed), the last
   turn warm vs the same messages under a different system message;
5. if LLAMA_SERVER=path/to/llama-server is set: the chat workload against it (-np 8 -c 32768).
Prints the last-turn TTFTs, the ratios and the prompt / cached token counts.

On the defaults the last turn's prompt is over 2,000 tokens (the issue's workload); it says so if not.

    python benchmarks/multiturn.py [--turns 14] [--words 130] [--tokens 8] [--model PATH] [--engine mlx]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.serverproc import ServerProcess, free_port  # noqa: E402

WORDS = ("river mill stone bread winter lantern harbour valley orchard letter bridge candle meadow "
         "tower garden forest island market window shadow").split()


def message(turn: int, words: int) -> str:
    return f"Turn {turn}: " + " ".join(WORDS[(turn * 7 + i) % len(WORDS)] for i in range(words))


def timed_run(client: openai.OpenAI, thread_id: str, assistant_id: str,
              tokens: int) -> tuple[float, int, int]:
    """(TTFT seconds, prompt tokens, cached tokens) of one streamed run."""
    start = time.perf_counter()
    first = None
    usage = None
    with client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id, stream=True,
                                         max_completion_tokens=tokens, temperature=0) as stream:
        for event in stream:
            if event.event == "thread.message.delta" and first is None:
                first = time.perf_counter() - start
            if event.event in ("thread.run.completed", "thread.run.incomplete", "thread.run.failed"):
                usage = event.data.usage
    assert first is not None and usage is not None, "the run produced no text"
    details = (usage.model_dump().get("prompt_tokens_details") or {})
    return first, usage.prompt_tokens, int(details.get("cached_tokens", 0))


def timed_chat(base_url: str, model: str, messages: list[dict[str, str]],
               tokens: int) -> tuple[float, str, int, int]:
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=900)
    start = time.perf_counter()
    first = None
    text, prompt, cached = [], 0, 0
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=tokens, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if first is None:
                first = time.perf_counter() - start
            text.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            prompt = chunk.usage.prompt_tokens
            details = chunk.usage.model_dump().get("prompt_tokens_details") or {}
            cached = int(details.get("cached_tokens") or 0)
    return (first if first is not None else time.perf_counter() - start), "".join(text) or ".", prompt, cached


def chat_workload(base_url: str, model: str, args: argparse.Namespace) -> tuple[float, float, int, int]:
    """(last-turn TTFT warm, the same messages cold, prompt tokens, cached tokens)."""
    # System messages of their own: the runs above must not have cached this conversation already.
    messages = [{"role": "system", "content": "You reply in a few words."}]
    warm = 0.0
    prompt = cached = 0
    for turn in range(args.turns):
        messages.append({"role": "user", "content": message(turn, args.words)})
        warm, answer, prompt, cached = timed_chat(base_url, model, messages, args.tokens)
        messages.append({"role": "assistant", "content": answer})
    cold_messages = [{"role": "system", "content": "Kindly reply in a few words."}, *messages[1:-1]]
    cold = timed_chat(base_url, model, cold_messages, args.tokens)[0]
    return warm, cold, prompt, cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=14)
    parser.add_argument("--words", type=int, default=130)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--engine", default="gguf", help="gguf or mlx (the server's --engine)")
    args = parser.parse_args()
    if args.model is None and args.engine == "gguf":
        # The bundled Gemma by name: `serve`'s default model is SmolLM2, and the llama-server comparison
        # below must decode the same file (it once compared our SmolLM2 with llama-server's Gemma).
        from assistants.inference.bundled import ensure_bundled_model

        args.model = ensure_bundled_model(Path(tempfile.gettempdir()) / "bench-model", progress=False)
    extra = (["--model", str(args.model)] if args.model else []) + ["--engine", args.engine]
    data_dir = Path(tempfile.mkdtemp(prefix="bench-multiturn-"))
    server = ServerProcess(data_dir, *extra).start(timeout=600)
    try:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0, timeout=900)
        model = client.models.list().data[0].id
        warm_assistant = client.beta.assistants.create(model=model, instructions="You answer briefly.")
        cold_assistant = client.beta.assistants.create(model=model, instructions="Please answer briefly.")
        thread = client.beta.threads.create()
        history: list[dict[str, str]] = []
        for turn in range(args.turns):
            text = message(turn, args.words)
            client.beta.threads.messages.create(thread_id=thread.id, role="user", content=text)
            history.append({"role": "user", "content": message(turn, args.words)})
            warm, prompt, cached = timed_run(client, thread.id, warm_assistant.id, args.tokens)
            print(f"turn {turn + 1:2d}: TTFT {warm:6.3f} s, prompt {prompt} tokens, {cached} cached",
                  flush=True)
        # The same history (without the last run's answer) in a fresh thread, no usable prefix.
        messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc", limit=100).data
        replay = [{"role": m.role, "content": m.content[0].text.value} for m in messages[:-1]]
        fresh = client.beta.threads.create(messages=replay)
        cold, cold_prompt, cold_cached = timed_run(client, fresh.id, cold_assistant.id, args.tokens)
        if prompt < 2000:
            print(f"note: the last turn's prompt is {prompt} tokens, under the 2,000 asked for", flush=True)
        print(f"runs, last turn: warm {warm:.3f} s vs cold {cold:.3f} s ({cold_prompt} tokens, {cold_cached} "
              f"cached): ratio {warm / cold:.2f}", flush=True)

        server.stop()
        server.start(timeout=600)
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0, timeout=900)
        text = message(args.turns, args.words)
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content=text)
        restored, r_prompt, r_cached = timed_run(client, thread.id, warm_assistant.id, args.tokens)
        messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc", limit=100).data
        replay = [{"role": m.role, "content": m.content[0].text.value} for m in messages[:-1]]
        fresh = client.beta.threads.create(messages=replay)
        cold2, _, _ = timed_run(client, fresh.id, cold_assistant.id, args.tokens)
        print(f"runs after a restart: restored {restored:.3f} s ({r_prompt} tokens, {r_cached} from disk) "
              "vs cold "
              f"{cold2:.3f} s: ratio {restored / cold2:.2f}", flush=True)

        c_warm, c_cold, c_prompt, c_cached = chat_workload(server.base_url + "/v1", model, args)
        print(f"chat re-send, last turn: warm {c_warm:.3f} s ({c_prompt} tokens, {c_cached} cached) vs cold "
              f"{c_cold:.3f} s: ratio {c_warm / c_cold:.2f}", flush=True)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    llama_server = os.environ.get("LLAMA_SERVER")
    if llama_server and args.model and args.engine != "gguf":
        print("LLAMA_SERVER skipped: --model is an MLX directory, llama-server needs the GGUF")
    elif llama_server:
        from assistants.inference.bundled import ensure_bundled_model

        cache = Path(tempfile.gettempdir()) / "bench-model"
        model_path = args.model or ensure_bundled_model(cache, progress=False)
        port = free_port()
        command = [llama_server, "-m", str(model_path), "-np", "8", "-c", "32768", "--port", str(port)]
        proc = subprocess.Popen(command,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            l_warm, l_cold, l_prompt, l_cached = chat_workload(base + "/v1", "model", args)
            print(f"llama-server chat re-send, last turn: warm {l_warm:.3f} s ({l_prompt} tokens, "
                  f"{l_cached} cached) "
                  f"vs cold {l_cold:.3f} s: ratio {l_warm / l_cold:.2f}; ours/llama-server last turn "
                  f"{c_warm / l_warm:.2f}", flush=True)
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
