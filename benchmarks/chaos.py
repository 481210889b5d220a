"""Chaos: kill -9 workers at random while runs are queued and decoding; check nothing is lost.

An API process (`serve --no-model --no-worker`) and N `assistants worker` processes share one SQLite
file. Runs are created through the API; a supervisor kills a random worker every 0.3-`--max-gap`
seconds and restarts it at once. One extra "poison" run makes any worker that decodes it exit
(`--debug-crash-on-metadata`). At the end every run must be completed or incomplete (the poison one
failed), every thread must keep its user message and hold at most one assistant message, and
`PRAGMA integrity_check` must say ok.

    python benchmarks/chaos.py --runs 100 --kills 30 --workers 2
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serverproc import ServerProcess, WorkerProcess  # noqa: E402

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}
POISON = ("poison", "1")


@dataclass
class Outcome:
    statuses: dict[str, str]
    poison_status: str
    kills: int
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_chaos(data_dir: Path, model: Path, *, runs: int, kills: int, workers: int = 2, max_tokens: int = 6,
              max_gap: float = 1.5, heartbeat_timeout: float = 2.0, seed: int = 0,
              limit: float = 600.0) -> Outcome:
    rng = random.Random(seed)
    args = ("--model", str(model), "--parallel", "4", "--ctx-size", "1024", "--threads", "1",
            "--heartbeat-timeout", str(heartbeat_timeout), "--debug-crash-on-metadata", "=".join(POISON))
    api = ServerProcess(data_dir, "--no-model", "--no-worker").start()
    pool = [WorkerProcess(data_dir, *args, name=f"worker-{n}") for n in range(workers)]
    began = time.monotonic()
    try:
        for worker in pool:
            worker.start(timeout=300)
        client = openai.OpenAI(base_url=api.base_url + "/v1", api_key="test", max_retries=2, timeout=120)
        assistant = client.beta.assistants.create(model="default")
        created = [client.beta.threads.create_and_run(
            assistant_id=assistant.id, max_completion_tokens=max_tokens, temperature=0,
            thread={"messages": [{"role": "user", "content": f"Say {n}:"}]}) for n in range(runs)]
        poison = client.beta.threads.create_and_run(
            assistant_id=assistant.id, max_completion_tokens=max_tokens, metadata=dict([POISON]),
            thread={"messages": [{"role": "user", "content": "Poison:"}]})
        done = 0
        deadline = time.monotonic() + limit
        while done < kills:  # random deaths, each worker restarted at once
            time.sleep(rng.uniform(0.3, max_gap))
            alive = [w for w in pool if w.alive()]
            if alive:
                rng.choice(alive).kill()
                done += 1
            for worker in pool:
                if not worker.alive():
                    worker.spawn()
            assert time.monotonic() < deadline, "chaos phase took too long"
        statuses: dict[str, str] = {}
        everything = [*created, poison]
        while len(statuses) < len(everything):
            for worker in pool:  # the poison run keeps killing workers: keep restarting them
                if not worker.alive():
                    worker.spawn()
            for run in everything:
                if run.id not in statuses:
                    status = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id).status
                    if status in TERMINAL:
                        statuses[run.id] = status
            assert time.monotonic() < deadline, f"runs still open: {len(everything) - len(statuses)}"
            time.sleep(0.2)
        poison_status = statuses.pop(poison.id)
        outcome = Outcome(statuses, poison_status, done, seconds=time.monotonic() - began)
    finally:
        for worker in pool:
            worker.stop()
        api.stop()
    db = sqlite3.connect(data_dir / "assistants.db")
    try:
        if db.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            outcome.problems.append("integrity_check failed")
        for thread_id, users, answers in db.execute(
                "SELECT thread_id, sum(role = 'user'), sum(role = 'assistant') FROM messages "
                "GROUP BY thread_id"):
            if users != 1 or answers > 1:
                outcome.problems.append(f"{thread_id}: {users} user and {answers} assistant messages")
        (threads,) = db.execute(
            "SELECT count(DISTINCT thread_id) FROM messages WHERE role = 'user'").fetchone()
        if threads != runs + 1:
            outcome.problems.append(f"user messages of {runs + 1 - threads} threads are missing")
    finally:
        db.close()
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=12)
    parser.add_argument("--max-gap", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from assistants.inference.bundled import ensure_bundled_model

    with tempfile.TemporaryDirectory() as tmp:
        model = ensure_bundled_model(Path(tmp) / "model", progress=True)
        outcome = run_chaos(Path(tmp) / "data", model, runs=args.runs, kills=args.kills, workers=args.workers,
                            max_tokens=args.max_tokens, max_gap=args.max_gap, seed=args.seed, limit=3600)
    counts: dict[str, int] = {}
    for status in outcome.statuses.values():
        counts[status] = counts.get(status, 0) + 1
    print(f"{args.runs} runs, {outcome.kills} kill -9 over {args.workers} workers, {outcome.seconds:.0f} s")
    print(f"  statuses: {counts}; poison run: {outcome.poison_status}")
    print(f"  problems: {outcome.problems or 'none'}")
    ok = (set(counts) <= {"completed", "incomplete"} and outcome.poison_status == "failed"
          and not outcome.problems)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
