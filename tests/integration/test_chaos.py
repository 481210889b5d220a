"""kill -9 at random while runs decode: no run fails, nothing is lost or doubled; a poison run fails.
(`benchmarks/chaos.py` is the long version with figures.)"""

from __future__ import annotations

from pathlib import Path

from benchmarks.chaos import run_chaos


def test_random_kills_fail_no_run_and_a_poison_run_fails(tmp_path: Path, bundled_model: Path) -> None:
    outcome = run_chaos(tmp_path / "data", bundled_model, runs=50, kills=10, workers=2, max_tokens=6,
                        max_gap=1.5, heartbeat_timeout=2.0, seed=12)
    assert outcome.kills >= 10
    assert set(outcome.statuses.values()) <= {"completed", "incomplete"}, outcome.statuses
    assert len(outcome.statuses) == 50
    assert outcome.poison_status == "failed"
    assert outcome.problems == []
