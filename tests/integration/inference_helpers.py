"""Reading the model server's --debug inference view (step records, live sequences)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.serverproc import ServerProcess


def debug_state(server: ServerProcess) -> dict[str, Any]:
    response = httpx.get(server.base_url + "/debug/inference", timeout=30)
    response.raise_for_status()
    return response.json()


def last_step(server: ServerProcess) -> int:
    steps = debug_state(server)["steps"]
    return steps[-1]["step"] if steps else 0


def steps_after(server: ServerProcess, step: int) -> list[dict[str, Any]]:
    return [s for s in debug_state(server)["steps"] if s["step"] > step]


def wait_until_idle(server: ServerProcess, timeout: float = 120.0) -> dict[str, Any]:
    """Poll until no sequence is live (a freed sequence leaves within one step; steps can be slow here)."""
    deadline = time.monotonic() + timeout
    while True:
        state = debug_state(server)
        if (state["live_sequences"] == 0 and state["queued"] == 0) or time.monotonic() > deadline:
            return state
        time.sleep(0.1)
