"""Output that is (forced) or may become (auto) tool calls, held back until the turn ends.

One rule for every streamed turn, chat completions and runs alike: `forced` output is held whole;
`auto` output is held from its first visible character when that is `{` or `<` (see
`calls.may_become_call`) and streams at once otherwise; `never` streams as it comes. At the end the
held text is parsed: calls, or text after all.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistants.protocol.chat import ChatFinishReason
from assistants.tools.calls import ToolCall, may_become_call, parse_tool_calls
from assistants.tools.plan import TurnPlan


@dataclass(frozen=True)
class TurnOutput:
    content: str | None
    """The text answer; None when the turn made calls."""
    calls: list[ToolCall] | None
    finish_reason: ChatFinishReason
    """`tool_calls` when the turn made calls, else the generation's own reason."""


def parse_turn(text: str, plan: TurnPlan, finish_reason: ChatFinishReason) -> TurnOutput:
    """What a finished turn produced. Output cut off by the token limit is text, never calls."""
    if plan.calls != "never" and finish_reason != "length":
        calls = parse_tool_calls(text, plan.names)
        if calls:
            return TurnOutput(None, calls, "tool_calls")
    return TurnOutput(text, None, finish_reason)


class CallHoldBack:
    """Feed it the pieces of one turn; stream what `feed` returns, then ask `finish` for the rest."""

    def __init__(self, plan: TurnPlan) -> None:
        self.plan = plan
        self._held: list[str] | None = [] if plan.calls != "never" else None
        self._looks_like_calls = plan.calls == "forced"

    @property
    def holding(self) -> bool:
        """Whether pieces are (still) being held back."""
        return self._held is not None

    def feed(self, piece: str) -> str | None:
        """The text to stream now, or None while it is held back. Text that turns out not to be a
        call is released all at once, as one piece."""
        if self._held is None:
            return piece
        self._held.append(piece)
        if self._looks_like_calls:
            return None
        so_far = "".join(self._held)
        if not so_far.strip():
            return None
        if may_become_call(so_far):  # decided at the first visible character: no re-join per piece
            self._looks_like_calls = True
            return None
        self._held = None
        return so_far

    def held_text(self) -> str:
        return "".join(self._held or ())

    def finish(self, finish_reason: ChatFinishReason) -> TurnOutput:
        """What is left once the turn ended: the held text parsed (empty content when nothing was
        held; the streamed text was already sent)."""
        if self._held is None:
            return TurnOutput("", None, finish_reason)
        return parse_turn(self.held_text(), self.plan, finish_reason)
