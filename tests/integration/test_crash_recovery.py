"""SIGKILL the server while runs decode, restart it on the same data dir, check the recovery policy:
interrupted runs are re-run from the start (one assistant message each, attempts counted), a queued
run still runs, user messages are all there, and SQLite's integrity check passes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import openai

from tests.integration.sse import read_until_done
from tests.serverproc import ServerProcess

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}


def client_for(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="test", max_retries=0, timeout=300)


def test_sigkill_while_runs_decode(tmp_path: Path, bundled_model: Path) -> None:
    data_dir = tmp_path / "data"
    args = ("--model", str(bundled_model), "--parallel", "2", "--ctx-size", "2048")
    server = ServerProcess(data_dir, *args).start()
    try:
        client = client_for(server)
        assistant = client.beta.assistants.create(model="default")
        runs = []
        for n in range(3):  # two decode (parallel 2), the third waits queued
            thread = client.beta.threads.create(messages=[{"role": "user", "content": f"Story {n}:"}])
            client.beta.threads.messages.create(thread_id=thread.id, role="user", content="Go on.")
            runs.append(
                # Greedy: sampled at temperature 1, Gemma now and then ends its turn inside 12 tokens.
                client.beta.threads.runs.create(
                    thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=12, temperature=0
                )
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until both decoding runs have streamed something
            partial = [
                m
                for r in runs[:2]
                for m in client.beta.threads.messages.list(thread_id=r.thread_id).data
                if m.role == "assistant" and m.content and m.content[0].text.value
            ]
            if len(partial) == 2:
                break
            time.sleep(0.05)
        statuses = [client.beta.threads.runs.retrieve(r.id, thread_id=r.thread_id).status for r in runs]
        assert statuses[:2] == ["in_progress", "in_progress"], statuses
    finally:
        server.kill()

    server = ServerProcess(data_dir, *args, port=server.port).start()
    try:
        client = client_for(server)
        finished = []
        for run in runs:
            deadline = time.monotonic() + 300
            while (
                current := client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
            ).status not in TERMINAL:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            finished.append(current)
        assert [r.status for r in finished] == ["incomplete"] * 3
        assert all(r.usage.completion_tokens == 12 for r in finished)
        http = httpx.Client(base_url=server.base_url, timeout=60)
        for run in finished:
            messages = client.beta.threads.messages.list(thread_id=run.thread_id, order="asc").data
            assert [m.role for m in messages] == ["user", "user", "assistant"]  # one answer, users kept
            (answer,) = [m for m in messages if m.role == "assistant"]
            assert answer.run_id == run.id and answer.status == "incomplete"
            steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data
            assert [s.status for s in steps] == ["completed"]
            # The event log tells the truth: the abandoned attempt's message events are gone, and the
            # streamed text of the surviving attempt is the stored text.
            replay = read_until_done(http, f"/v1/threads/{run.thread_id}/runs/{run.id}/events")
            created = [f.json()["id"] for f in replay if f.event == "thread.message.created"]
            assert created == [answer.id]
            text = "".join(
                f.json()["delta"]["content"][0]["text"]["value"]
                for f in replay
                if f.event == "thread.message.delta"
            )
            assert text == answer.content[0].text.value
    finally:
        server.stop()

    db = sqlite3.connect(data_dir / "assistants.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        attempts = dict(db.execute("SELECT id, attempts FROM runs").fetchall())
        assert [attempts[r.id] for r in runs[:2]] == [2, 2] and attempts[runs[2].id] in (1, 2)
        assert db.execute("SELECT count(*) FROM messages WHERE role = 'user'").fetchone() == (6,)
    finally:
        db.close()
