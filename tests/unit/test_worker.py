"""Worker, executor and queue against the real store (SQLite file) and a scripted inference.

The scripted inference yields given pieces, one per `tick` (a step); cancel ends it at the next step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from assistants import protocol as p
from assistants import store
from assistants.events import EventBus, EventFilter
from assistants.inference.batcher import GenerationResult
from assistants.inference.engine import SamplingParams
from assistants.jobs import Worker
from assistants.jobs.cancel import CancelFlag
from assistants.runs.executor import Executor
from assistants.runs.prompt import Prompt, build_prompt
from assistants.runs.worker import RunJobs
from assistants.store import run_moves
from assistants.store.models import messages, run_events, runs
from assistants.store.records import all_records, first_record, record_columns


class ScriptedGeneration:
    def __init__(
        self,
        pieces: list[str],
        tick: float,
        finish: str = "stop",
        fail: Exception | None = None,
        prompt_tokens: int = 7,
    ) -> None:
        self.pieces = list(pieces)
        self.tick = tick
        self.finish = finish
        self.fail = fail
        self.prompt_tokens = prompt_tokens
        self.sent = 0
        self.cancelled = False
        self.result: GenerationResult | None = None

    def __aiter__(self) -> ScriptedGeneration:
        return self

    async def __anext__(self) -> str:
        await asyncio.sleep(self.tick)
        if self.cancelled:
            self.result = GenerationResult("cancelled", self.prompt_tokens, self.sent)
            raise StopAsyncIteration
        if self.fail is not None and self.sent == 2:
            raise self.fail
        if self.sent == len(self.pieces):
            self.result = GenerationResult(self.finish, self.prompt_tokens, self.sent)  # type: ignore[arg-type]
            raise StopAsyncIteration
        self.sent += 1
        return self.pieces[self.sent - 1]

    def cancel(self) -> None:
        self.cancelled = True


class ScriptedInference:
    ctx_size = 400

    def __init__(self) -> None:
        self.script: Callable[[], ScriptedGeneration] = lambda: ScriptedGeneration(
            ["Hel", "lo", " world"], 0.001
        )
        self.prompts: list[str] = []
        self.generations: list[ScriptedGeneration] = []

    def require_constrained_decoding(self, param: str) -> None:
        """The scripted engine "enforces" any grammar (the GGUF engine does; MLX refuses)."""

    def render_chat(self, messages: list[dict[str, Any]], **_: Any) -> str:
        return "".join(f"<{m['role']}> {m['content']}\n" for m in messages) + "<assistant>"

    def tokenize(self, text: str) -> list[int]:
        return list(range(len(text.split())))  # a "token" per word

    async def start(self, prompt: Prompt, params: SamplingParams) -> ScriptedGeneration:
        self.prompts.append(prompt.text)
        generation = self.script()
        self.generations.append(generation)
        return generation


@pytest.fixture()
def database(backend_database: store.Database) -> store.Database:
    """Every worker behaviour holds on both backends."""
    return backend_database


@pytest.fixture()
async def bus(database: store.Database) -> AsyncIterator[EventBus]:
    bus = EventBus(database, flush_interval=0.005)
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture()
def inference() -> ScriptedInference:
    return ScriptedInference()


@pytest.fixture()
async def worker(bus: EventBus, inference: ScriptedInference) -> AsyncIterator[Worker]:
    executor = Executor(bus, inference, inference.start)
    worker = Worker(bus, [RunJobs(bus, executor)], capacity=4, poll_interval=0.05)
    await worker.start()
    yield worker
    await worker.close()


async def new_run(db: store.Database, bus: EventBus, text: str = "Say hi", **options: Any) -> dict[str, Any]:
    async with db.write() as session:
        assistant = await store.create_assistant(
            session, msgspec.convert({"model": "m", "instructions": "Be brief."}, p.CreateAssistantRequest)
        )
        thread = await store.create_thread(
            session, msgspec.convert({"messages": [{"role": "user", "content": text}]}, p.CreateThreadRequest)
        )
        run = await store.create_run(
            session,
            thread["id"],
            msgspec.convert({"assistant_id": assistant["id"], **options}, p.CreateRunRequest),
        )
    bus.poke()
    return dict(run)


async def until(predicate: Callable[[], bool]) -> None:
    """Wait for a condition of the scripted engine (it has no events to wait on)."""
    while not predicate():  # noqa: ASYNC110
        await asyncio.sleep(0.005)


async def wait_status(db: store.Database, run_id: str, *statuses: str, limit: float = 5) -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        while True:
            async with db.read() as session:
                row = first_record(
                    await session.execute(sa.select(*record_columns(runs)).where(runs.c.id == run_id))
                )
                assert row is not None
            if row["status"] in statuses:
                return dict(row)
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(poll(), limit)


async def run_messages(db: store.Database, run_id: str) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = all_records(
            await session.execute(sa.select(*record_columns(messages)).where(messages.c.run_id == run_id))
        )
    return [dict(r) for r in rows]


async def test_a_run_completes_with_the_full_event_sequence(
    database: store.Database, bus: EventBus, worker: Worker, inference: ScriptedInference
) -> None:
    run = await new_run(database, bus)
    worker.notify()
    done = await wait_status(database, run["id"], "completed")
    assert done["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
                             "prompt_tokens_details": {"cached_tokens": 0}}
    assert done["started_at"] is not None and done["completed_at"] is not None and done["attempts"] == 1
    assert "<system> Be brief." in inference.prompts[0] and "<user> Say hi" in inference.prompts[0]
    (message,) = await run_messages(database, run["id"])
    assert message["status"] == "completed"
    assert message["content"] == [{"type": "text", "text": {"value": "Hello world", "annotations": []}}]
    events = await bus.replay(EventFilter(run_id=run["id"]))
    assert [e.event for e in events] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
        "thread.message.delta",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    deltas = [msgspec.json.decode(e.data) for e in events if e.event == "thread.message.delta"]
    assert "".join(d["delta"]["content"][0]["text"]["value"] for d in deltas) == "Hello world"
    assert deltas[0]["delta"]["content"][0]["text"]["annotations"] == []
    created = msgspec.json.decode(next(e.data for e in events if e.event == "thread.message.created"))
    assert created["content"] == []
    step = msgspec.json.decode(events[-2].data)
    assert step["status"] == "completed" and step["usage"]["completion_tokens"] == 3


async def test_claims_are_atomic(database: store.Database, bus: EventBus) -> None:
    ids = {(await new_run(database, bus, f"message {n}"))["id"] for n in range(12)}
    async def claim(worker: str) -> list[dict[str, Any]]:
        async with bus.transaction() as tx:
            return await run_moves.claim_runs(tx.session, worker, 3)

    claims = await asyncio.gather(*(claim(f"w{n}") for n in range(8)))
    claimed = [run["id"] for batch in claims for run in batch]
    assert sorted(claimed) == sorted(ids)  # every run exactly once
    async with database.read() as session:
        attempts = (await session.execute(sa.select(runs.c.attempts))).scalars().all()
    assert set(attempts) == {1}


async def test_cancel_mid_decode_keeps_the_partial_message(
    database: store.Database, bus: EventBus, worker: Worker, inference: ScriptedInference
) -> None:
    inference.script = lambda: ScriptedGeneration([f"w{n} " for n in range(200)], 0.01)
    run = await new_run(database, bus)
    worker.notify()
    await wait_status(database, run["id"], "in_progress")
    await until(lambda: bool(inference.generations) and inference.generations[0].sent >= 3)
    # What the cancel route does: cancelling commits through the bus, then the flag flips.
    async with bus.transaction() as tx:
        row = await store.cancel_run(tx.session, run["thread_id"], run["id"])
    assert row["status"] == "cancelling"
    worker.request_cancel(run["id"])
    await bus.flush()
    deltas_at_cancel = [
        e for e in await bus.replay(EventFilter(run_id=run["id"])) if e.event == "thread.message.delta"
    ]
    done = await wait_status(database, run["id"], "cancelled")
    assert done["cancelled_at"] is not None
    (message,) = await run_messages(database, run["id"])
    assert message["status"] == "incomplete" and message["incomplete_details"] == {"reason": "run_cancelled"}
    events = await bus.replay(EventFilter(run_id=run["id"]))
    deltas = [e for e in events if e.event == "thread.message.delta"]
    assert deltas == deltas_at_cancel  # nothing appended after the cancel returned
    text = "".join(msgspec.json.decode(e.data)["delta"]["content"][0]["text"]["value"] for e in deltas)
    assert message["content"][0]["text"]["value"] == text and text
    assert [e.event for e in events][-3:] == [
        "thread.message.incomplete",
        "thread.run.step.cancelled",
        "thread.run.cancelled",
    ]
    assert inference.generations[0].cancelled


async def test_token_limit_ends_incomplete(
    database: store.Database, bus: EventBus, worker: Worker, inference: ScriptedInference
) -> None:
    inference.script = lambda: ScriptedGeneration(["a", "b"], 0.001, finish="length")
    run = await new_run(database, bus, max_completion_tokens=256)
    worker.notify()
    done = await wait_status(database, run["id"], "incomplete")
    assert done["incomplete_details"] == {"reason": "max_completion_tokens"}
    (message,) = await run_messages(database, run["id"])
    assert message["status"] == "incomplete" and message["incomplete_details"] == {"reason": "max_tokens"}


async def test_engine_error_fails_the_run(
    database: store.Database, bus: EventBus, worker: Worker, inference: ScriptedInference
) -> None:
    inference.script = lambda: ScriptedGeneration(["a", "b", "c"], 0.001, fail=RuntimeError("decode failed"))
    run = await new_run(database, bus)
    worker.notify()
    done = await wait_status(database, run["id"], "failed")
    assert done["last_error"]["code"] == "server_error" and "decode failed" in done["last_error"]["message"]
    (message,) = await run_messages(database, run["id"])
    assert message["status"] == "incomplete" and message["incomplete_details"] == {"reason": "run_failed"}
    assert [e.event for e in await bus.replay(EventFilter(run_id=run["id"]))][-2:] == [
        "thread.run.step.failed",
        "thread.run.failed",
    ]


async def test_prompt_over_max_prompt_tokens_is_incomplete(
    database: store.Database, bus: EventBus, worker: Worker
) -> None:
    run = await new_run(database, bus, "word " * 300, max_prompt_tokens=256)
    worker.notify()
    done = await wait_status(database, run["id"], "incomplete")
    assert done["incomplete_details"] == {"reason": "max_prompt_tokens"}
    assert await run_messages(database, run["id"]) == []


async def claim_as(bus: EventBus, worker: str, limit: int, busy: int = 0) -> list[dict[str, Any]]:
    async with bus.transaction() as tx:
        return [dict(r) for r in await run_moves.claim_runs(tx.session, worker, limit, busy=busy)]


async def recover(bus: EventBus, me: str = "survivor") -> dict[str, list[str]]:
    async with bus.transaction() as tx:
        return await run_moves.recover_stale_runs(tx.session, me=me, stale_after=5.0, max_crashes=3)


async def age(database: store.Database, worker: str, seconds: float) -> None:
    """Make `worker`'s heartbeat `seconds` old (a worker that stopped beating that long ago)."""
    async with database.write() as session:
        await session.execute(sa.update(runs).where(runs.c.worker_id == worker)
                              .values(heartbeat_at=runs.c.heartbeat_at - seconds))


async def statuses(database: store.Database) -> dict[str, tuple[str, bool, int]]:
    async with database.read() as session:
        rows = (await session.execute(
            sa.select(runs.c.id, runs.c.status, runs.c.isolated, runs.c.crashes))).all()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


async def test_recovery_touches_only_runs_of_workers_whose_heartbeat_is_stale(
    database: store.Database, bus: EventBus, inference: ScriptedInference
) -> None:
    dead_a, dead_b, cancelling, live = [await new_run(database, bus, f"m{n}") for n in range(4)]
    await claim_as(bus, "dead", 3)
    await claim_as(bus, "alive", 1)
    executor = Executor(bus, inference, inference.start, worker_id="dead")
    await executor._open_message(p.run_object(dead_a))  # a partial message, as a crash leaves it
    bus.emit("thread.message.delta", {"x": 1}, run_id=dead_a["id"], thread_id=dead_a["thread_id"])
    async with database.write() as session:
        await session.execute(
            sa.update(runs).where(runs.c.id == cancelling["id"]).values(status="cancelling"))
    await bus.flush()
    assert await recover(bus) == {"cancelled": [], "requeued": [], "failed": []}  # all heartbeats fresh
    await age(database, "dead", 10)
    outcome = await recover(bus)
    assert outcome == {"cancelled": [cancelling["id"]], "requeued": [dead_a["id"], dead_b["id"]],
                       "failed": []}
    now = await statuses(database)
    # Died with others: requeued, not charged, decoded alone from now on. The live worker's run: untouched.
    assert now[dead_a["id"]] == now[dead_b["id"]] == ("queued", True, 0)
    assert now[cancelling["id"]][0] == "cancelled" and now[live["id"]] == ("in_progress", False, 0)
    assert await run_messages(database, dead_a["id"]) == []
    events = [e.event for e in await bus.replay(EventFilter(run_id=dead_a["id"]))]
    assert events == ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
                      "thread.run.queued"]
    async with database.read() as session:
        users = (await session.execute(sa.select(sa.func.count()).where(messages.c.role == "user"))).scalar()
    assert users == 4


async def test_an_isolated_run_is_claimed_alone_by_an_idle_worker(
    database: store.Database, bus: EventBus
) -> None:
    suspect, other = [await new_run(database, bus, f"m{n}") for n in range(2)]
    await claim_as(bus, "dead", 2)
    await age(database, "dead", 10)
    await recover(bus)
    assert await claim_as(bus, "busy", 4, busy=1) == []  # the isolated run heads the queue: wait
    assert [r["id"] for r in await claim_as(bus, "idle", 4)] == [suspect["id"]]  # alone
    assert [r["id"] for r in await claim_as(bus, "idle2", 4)] == [other["id"]]


async def test_random_deaths_never_fail_a_run_but_a_poison_run_fails(
    database: store.Database, bus: EventBus
) -> None:
    """The attempt rule both ways: deaths while decoding with others never charge a run; a run whose
    worker dies each time it decodes it alone fails after max_crashes (3) such deaths."""
    runs_ = [await new_run(database, bus, f"m{n}") for n in range(3)]
    poison = runs_[0]
    for death in range(6):  # six random deaths, each while all three decode together
        claimed = await claim_as(bus, f"w{death}", 3)
        if death == 0:
            assert len(claimed) == 3
        else:  # isolated now: one at a time; put the others back in the batch by hand
            async with database.write() as session:
                await session.execute(sa.update(runs).values(status="in_progress", worker_id=f"w{death}",
                                                             heartbeat_at=1.0))
        await age(database, f"w{death}", 10)
        await recover(bus)
    assert {status for status, _, crashes in (await statuses(database)).values()} == {"queued"}
    assert {crashes for _, _, crashes in (await statuses(database)).values()} == {0}
    outcomes = []
    for death in range(3):  # the poison run, decoded alone, kills its worker every time
        (claimed,) = await claim_as(bus, f"solo{death}", 3)
        assert claimed["id"] == poison["id"]
        await age(database, f"solo{death}", 10)
        outcomes.append(await recover(bus))
    assert [o["failed"] for o in outcomes] == [[], [], [poison["id"]]]
    now = await statuses(database)
    assert now[poison["id"]] == ("failed", True, 2)
    assert {now[r["id"]][0] for r in runs_[1:]} == {"queued"}
    async with database.read() as session:
        error = (await session.execute(
            sa.select(runs.c.last_error).where(runs.c.id == poison["id"]))).scalar()
    assert "3 times" in error["message"]


async def test_expired_queued_runs(database: store.Database, bus: EventBus) -> None:
    run = await new_run(database, bus)
    async with database.write() as session:
        await session.execute(sa.update(runs).values(expires_at=1))
    async with bus.transaction() as tx:
        assert await run_moves.expire_runs(tx.session) == [run["id"]]
    assert [e.event for e in await bus.replay(EventFilter(run_id=run["id"]))][-1] == "thread.run.expired"


async def test_shutdown_rewinds_unfinished_runs_without_counting_an_attempt(
    database: store.Database, bus: EventBus, inference: ScriptedInference
) -> None:
    inference.script = lambda: ScriptedGeneration(["x "] * 1000, 0.01)
    worker = Worker(bus, [RunJobs(bus, Executor(bus, inference, inference.start))], capacity=2,
                    poll_interval=0.05, drain_timeout=0.05)
    await worker.start()
    run = await new_run(database, bus)
    worker.notify()
    await wait_status(database, run["id"], "in_progress")
    await until(lambda: bool(inference.generations) and inference.generations[0].sent >= 2)
    await worker.close()
    after = await wait_status(database, run["id"], "queued")
    assert after["attempts"] == 0
    assert await run_messages(database, run["id"]) == []
    assert inference.generations[0].cancelled


async def test_many_runs_share_the_worker(
    database: store.Database, bus: EventBus, worker: Worker, inference: ScriptedInference
) -> None:
    inference.script = lambda: ScriptedGeneration(["a", "b", "c", "d"], 0.01)
    created = [await new_run(database, bus, f"q{n}") for n in range(8)]
    worker.notify()
    done = [await wait_status(database, run["id"], "completed") for run in created]
    assert len(done) == 8
    async with database.read() as session:
        count = (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(run_events)
                .where(run_events.c.event == "thread.run.completed")
            )
        ).scalar()
    assert count == 8


def test_truncation_auto_drops_oldest_and_last_messages_keeps_n() -> None:
    inference = ScriptedInference()
    history = [{"role": "user", "content": f"m{n} " + "x " * 50} for n in range(20)]
    prompt = build_prompt(
        inference,
        "sys",
        history,
        truncation={"type": "auto"},
        max_prompt_tokens=None,
        max_completion_tokens=None,
    )
    assert prompt.tokens <= inference.ctx_size - 200
    assert "m19 " in prompt.text and "m0 " not in prompt.text
    prompt = build_prompt(
        inference,
        "sys",
        history,
        truncation={"type": "last_messages", "last_messages": 2},
        max_prompt_tokens=None,
        max_completion_tokens=None,
    )
    assert "m18 " in prompt.text and "m17 " not in prompt.text


async def test_a_worker_presumed_dead_cannot_write_a_run_another_worker_took(
    database: store.Database, bus: EventBus, inference: ScriptedInference
) -> None:
    """A stalled worker whose runs were taken over comes back: its message and final writes are
    refused (guarded by worker_id), so the run never gets a second assistant message."""
    run = await new_run(database, bus)
    await claim_as(bus, "stalled", 1)
    await age(database, "stalled", 10)
    await recover(bus)
    await claim_as(bus, "successor", 1)
    zombie = Executor(bus, inference, inference.start, worker_id="stalled")
    assert await zombie.execute(p.run_object(run), CancelFlag()) == "lost"
    assert await run_messages(database, run["id"]) == []
    async with database.read() as session:
        owner = (await session.execute(sa.select(runs.c.worker_id, runs.c.status)
                                       .where(runs.c.id == run["id"]))).one()
    assert tuple(owner) == ("successor", "in_progress")
