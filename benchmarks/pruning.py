"""How long one delta-pruning batch holds SQLite's write lock, against the write it delays most: one
event-flush transaction (8 runs' worth of deltas, what the bus commits every 25 ms while 8 runs stream).

Builds a migrated SQLite database in a temporary directory with --runs finished runs of --deltas deltas
each (created long ago), then, in the same process and interleaved: times --rounds flushes of 8 x 8
deltas (the baseline) and --rounds pruning batches (`store.pruning.BATCH` runs each). Prints the
median of each and their ratio.

    python benchmarks/pruning.py [--runs 400] [--deltas 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import sqlalchemy as sa  # noqa: E402

from assistants import protocol as p  # noqa: E402
from assistants import store  # noqa: E402
from assistants.events import EventBus  # noqa: E402
from assistants.store import Database, pruning  # noqa: E402
from assistants.store import events as log  # noqa: E402
from assistants.store.migrate import upgrade_to_head  # noqa: E402
from assistants.store.models import runs as runs_table  # noqa: E402

DAY = 86_400


async def seed(db: Database, runs: int, deltas: int) -> list[dict[str, object]]:
    """`runs` completed runs created two days ago, each with `deltas` deltas in the log."""
    created = []
    async with db.write() as session:
        assistant = await store.create_assistant(session, p.CreateAssistantRequest(model="m"))
        thread = await store.create_thread(session, None)
    request = p.CreateRunRequest(assistant_id=assistant["id"])
    for _ in range(runs):
        async with db.write() as session:
            run = await store.create_run(session, thread["id"], request)
            # Finished at once: a thread holds one active run at a time.
            await session.execute(sa.update(runs_table).where(runs_table.c.id == run["id"]).values(
                status="completed", created_at=int(time.time() - 2 * DAY)))
            await log.insert_events(session, [
                log.run_event(run, "thread.message.delta", {"n": n, "text": "w "}) for n in range(deltas)])
        created.append(dict(run))
    return created


async def measure(url: str, args: argparse.Namespace) -> None:
    db = await Database.open(url)
    try:
        live = await seed(db, args.runs, args.deltas)
        bus = EventBus(db, flush_interval=3600)  # flushed by hand below
        flushes, batches = [], []
        for _ in range(args.rounds):
            for run in live[:8]:
                for n in range(8):
                    bus.emit("thread.message.delta", {"n": n, "text": "word "}, run_id=str(run["id"]),
                             thread_id=str(run["thread_id"]), assistant_id=str(run["assistant_id"]))
            started = time.perf_counter()
            await bus.writer.flush()
            flushes.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with db.write() as session:
                pruned = await pruning.prune_run_deltas(session, created_before=int(time.time() - DAY))
            batches.append(time.perf_counter() - started)
            assert pruned == pruning.BATCH, pruned
    finally:
        await db.close()
    flush, batch = statistics.median(flushes), statistics.median(batches)
    print(f"{args.runs} finished runs of {args.deltas} deltas; {args.rounds} rounds, interleaved, medians:")
    print(f"one event flush (8 runs x 8 deltas):       {flush * 1000:7.1f} ms")
    print(f"one pruning batch ({pruning.BATCH} runs, {pruning.BATCH * args.deltas} rows): "
          f"{batch * 1000:7.1f} ms, {batch / flush:.1f}x a flush")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--deltas", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'prune.db'}"
        upgrade_to_head(url)  # alembic runs its own event loop: before ours
        asyncio.run(measure(url, args))


if __name__ == "__main__":
    main()
