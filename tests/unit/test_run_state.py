"""Run state machine: the legal moves of reference §3, and nothing else."""

from __future__ import annotations

from typing import get_args, get_type_hints

import pytest

from assistants import protocol as p
from assistants.protocol import run_status
from assistants.protocol.steps import RunStep

ALL = set(get_args(p.RunStatus))
"""The statuses the wire knows: the state machine must classify exactly these."""


@pytest.mark.parametrize("terminal", sorted(run_status.TERMINAL))
def test_terminal_states_never_change(terminal: str) -> None:
    assert not any(run_status.can_move(terminal, target) for target in ALL)
    with pytest.raises(run_status.IllegalTransition):
        run_status.check_move(terminal, "in_progress")


def test_the_happy_path_and_its_branches() -> None:
    for current, target in [("queued", "in_progress"), ("in_progress", "completed"),
                            ("in_progress", "incomplete"), ("in_progress", "failed"),
                            ("in_progress", "cancelling"), ("cancelling", "cancelled"),
                            ("queued", "cancelled"), ("queued", "expired"), ("requires_action", "queued"),
                            ("in_progress", "requires_action"), ("requires_action", "expired")]:
        run_status.check_move(current, target)


def test_moves_the_api_forbids() -> None:
    for current, target in [("queued", "completed"), ("queued", "requires_action"),
                            ("cancelling", "in_progress"), ("cancelling", "queued"),
                            ("requires_action", "completed"), ("in_progress", "cancelled")]:
        assert not run_status.can_move(current, target), (current, target)


def test_every_wire_status_is_classified_once() -> None:
    assert run_status.TERMINAL | run_status.ACTIVE == ALL
    assert not run_status.TERMINAL & run_status.ACTIVE
    assert run_status.CANCELLABLE <= run_status.ACTIVE and run_status.EXPIRABLE <= run_status.CANCELLABLE
    assert set(p.ACTIVE_STATUSES) == run_status.ACTIVE


def test_moves_stay_among_wire_statuses_and_every_active_run_can_end() -> None:
    assert set(run_status.TRANSITIONS) == run_status.ACTIVE
    for current, targets in run_status.TRANSITIONS.items():
        assert targets <= ALL, current
        assert current not in targets, current
    for start in run_status.ACTIVE:  # no status a run can get stuck in
        seen, frontier = {start}, [start]
        while frontier:
            for target in run_status.TRANSITIONS.get(frontier.pop(), frozenset()):
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert seen & run_status.TERMINAL, start


def test_every_terminal_run_ends_its_step_and_message_in_wire_terms() -> None:
    step_statuses = set(get_args(get_type_hints(RunStep)["status"]))
    assert set(run_status.STEP_STATUS_FOR_RUN) == run_status.TERMINAL
    assert set(run_status.STEP_STATUS_FOR_RUN.values()) <= step_statuses
    # A completed run leaves its message completed; every other end leaves it incomplete, with a reason.
    assert set(run_status.MESSAGE_INCOMPLETE_REASON) == run_status.TERMINAL - {"completed"}
