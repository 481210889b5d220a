"""Run state machine: the legal moves of reference §3, and nothing else."""

from __future__ import annotations

import itertools

import pytest

from assistants.runs import state

ALL = ["queued", "in_progress", "requires_action", "cancelling", "cancelled", "failed", "completed",
       "incomplete", "expired"]


@pytest.mark.parametrize("terminal", sorted(state.TERMINAL))
def test_terminal_states_never_change(terminal: str) -> None:
    assert not any(state.can_move(terminal, target) for target in ALL)
    with pytest.raises(state.IllegalTransition):
        state.check_move(terminal, "in_progress")


def test_the_happy_path_and_its_branches() -> None:
    for current, target in [("queued", "in_progress"), ("in_progress", "completed"),
                            ("in_progress", "incomplete"), ("in_progress", "failed"),
                            ("in_progress", "cancelling"), ("cancelling", "cancelled"),
                            ("queued", "cancelled"), ("queued", "expired"), ("requires_action", "queued"),
                            ("in_progress", "requires_action"), ("requires_action", "expired")]:
        state.check_move(current, target)


def test_moves_the_api_forbids() -> None:
    for current, target in [("queued", "completed"), ("queued", "requires_action"),
                            ("cancelling", "in_progress"), ("cancelling", "queued"),
                            ("requires_action", "completed"), ("in_progress", "cancelled")]:
        assert not state.can_move(current, target), (current, target)


def test_every_status_is_classified_once() -> None:
    assert set(ALL) == state.TERMINAL | state.ACTIVE
    assert not state.TERMINAL & state.ACTIVE
    assert state.CANCELLABLE <= state.ACTIVE and state.EXPIRABLE <= state.CANCELLABLE
    for current, target in itertools.product(state.ACTIVE, ALL):
        if state.can_move(current, target):
            assert target in ALL


def test_ending_steps_and_messages_follow_the_run() -> None:
    assert state.MESSAGE_INCOMPLETE_REASON["cancelled"] == "run_cancelled"
    assert state.MESSAGE_INCOMPLETE_REASON["incomplete"] == "max_tokens"
    assert state.STEP_STATUS_FOR_RUN["cancelled"] == "cancelled"
    assert set(state.STEP_STATUS_FOR_RUN) == state.TERMINAL
