"""`logit_bias` on chat completions and completions, with the real bundled model.

Token ids come from llama.cpp's tokenizer over the same GGUF (both engines share its vocabulary:
test_mlx_engine.py). -100 must ban a token and +100 force it, greedy and seeded, on either engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

MODEL = "default"
PROMPT = [{"role": "user", "content": "Name three colors."}]


@pytest.fixture(scope="module")
def vocab(bundled_model: Path) -> Any:
    from llama_cpp import Llama

    return Llama(str(bundled_model), vocab_only=True, verbose=False)


def token_of(vocab: Any, piece: str) -> int:
    """The id of the single token whose text is `piece` (fails if `piece` is not one token)."""
    (token,) = vocab.tokenize(piece.encode(), add_bos=False, special=False)
    return int(token)


def chat_text(client: openai.OpenAI, **kwargs: Any) -> str:
    response = client.chat.completions.create(
        model=MODEL, messages=PROMPT, **kwargs)  # type: ignore[arg-type]
    content = response.choices[0].message.content
    assert content is not None
    return content


def test_ban_changes_the_greedy_first_token_and_force_yields_the_token(
    engine_client: openai.OpenAI, vocab: Any
) -> None:
    first = chat_text(engine_client, temperature=0, max_tokens=1)
    banned = token_of(vocab, first)
    other = chat_text(engine_client, temperature=0, max_tokens=1, logit_bias={str(banned): -100})
    assert other != first
    forced = token_of(vocab, " banana")
    text = chat_text(engine_client, temperature=1.0, seed=5, max_tokens=2, logit_bias={str(forced): 100})
    assert text.split() == ["banana", "banana"]


def test_ban_applies_to_seeded_draws_and_to_completions(model_client: openai.OpenAI, vocab: Any) -> None:
    drawn = chat_text(model_client, temperature=1.0, seed=11, max_tokens=1)
    banned = token_of(vocab, drawn)
    again = chat_text(model_client, temperature=1.0, seed=11, max_tokens=1, logit_bias={str(banned): -100})
    assert again != drawn
    greedy = model_client.completions.create(model=MODEL, prompt="1, 2, 3,", temperature=0, max_tokens=2)
    assert greedy.choices[0].text.startswith(" 4")
    comma = token_of(vocab, ",")
    biased = model_client.completions.create(model=MODEL, prompt="1, 2, 3,", temperature=0, max_tokens=2,
                                             logit_bias={str(comma): 100})
    assert biased.choices[0].text == ",,"
