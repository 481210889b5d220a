"""Which waiting prompts the MLX engine hands to mlx-lm's generator this step (pure; no mlx import).

The generator prefills every prompt it holds side by side, each by a chunk of at most
`prefill_step_size` tokens, right-padded to the step's longest chunk; a prompt's last token is fed on
its own, the step after its chunks end, as it moves to decoding. Handed every arrival at once, a burst
of long prompts made one step carry `parallel` full chunks (four prompts: 814 tokens in one step)
while the decoders waited. So the engine hands a prompt over only while the step's prompt work stays
within one chunk, the bound the GGUF engine keeps: a burst of short prompts still joins in one step,
a long prompt is prefilled alone, a chunk per step, and prompts join in arrival order.
"""

from __future__ import annotations

from collections.abc import Sequence


def prefill_cost(left: Sequence[int], chunk: int) -> int:
    """Token slots one generator step spends on prompts, given each prompt's tokens left to prefill
    before its last one (0: only the last token is left)."""
    chunks = [min(n, chunk) for n in left if n > 0]
    last_tokens = sum(1 for n in left if n <= 0)
    return len(chunks) * max(chunks, default=0) + last_tokens


def admissible(prefilling: Sequence[int], waiting: Sequence[int], chunk: int) -> int:
    """How many of `waiting` (oldest first) join the `prefilling` prompts now without the step's prompt
    work exceeding `chunk`. A prompt alone always fits, so the oldest joins once the others are done."""
    joined = list(prefilling)
    count = 0
    for left in waiting:
        if prefill_cost([*joined, left], chunk) > chunk:
            break
        joined.append(left)
        count += 1
    return count
