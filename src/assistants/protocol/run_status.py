"""The run status state machine (reference §3): which moves are legal, and what each status means.

Pure data and checks, below store (which guards every status write with it) and everything above."""

from __future__ import annotations

from typing import Literal

RunStatus = Literal["queued", "in_progress", "requires_action", "cancelling", "cancelled", "failed",
                    "completed", "incomplete", "expired"]

TERMINAL: frozenset[str] = frozenset({"cancelled", "failed", "completed", "incomplete", "expired"})
ACTIVE_STATUSES: tuple[str, ...] = ("queued", "in_progress", "requires_action", "cancelling")
"""A thread has at most one run in these; it blocks new runs and new messages."""
ACTIVE: frozenset[str] = frozenset(ACTIVE_STATUSES)
CANCELLABLE: frozenset[str] = frozenset({"queued", "in_progress", "requires_action"})
OWNED: frozenset[str] = frozenset({"in_progress", "cancelling"})
"""A worker decodes the run: it carries that worker's id and heartbeat."""
EXPIRABLE: frozenset[str] = frozenset({"queued", "requires_action"})
"""Expiry applies to runs waiting on somebody; an in_progress run is bounded by its token budget."""

TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"in_progress", "cancelling", "cancelled", "failed", "expired"}),
    "in_progress": frozenset({"requires_action", "completed", "incomplete", "failed", "cancelling",
                              "expired", "queued"}),
    "requires_action": frozenset({"queued", "cancelling", "cancelled", "expired", "failed"}),
    # Cancellation is attempted, not guaranteed: a run that finished its last step wins the race.
    "cancelling": frozenset({"cancelled", "completed", "incomplete", "failed"}),
}
"""`in_progress -> queued` is crash recovery's re-queue (a new attempt), never a user-visible move."""

STEP_STATUS_FOR_RUN: dict[str, str] = {
    "completed": "completed", "incomplete": "completed", "cancelled": "cancelled", "failed": "failed",
    "expired": "expired",
}
"""An in-progress run step ends with its run (a token-limit stop still completes the step)."""

MESSAGE_INCOMPLETE_REASON: dict[str, str] = {
    "incomplete": "max_tokens", "cancelled": "run_cancelled", "failed": "run_failed",
    "expired": "run_expired",
}
"""An in-progress assistant message ends `incomplete` with this reason when its run ends this way."""


class IllegalTransition(RuntimeError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a run cannot move from {current} to {target}")
        self.current = current
        self.target = target


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def check_move(current: str, target: str) -> None:
    if not can_move(current, target):
        raise IllegalTransition(current, target)


def is_terminal(status: str) -> bool:
    return status in TERMINAL
