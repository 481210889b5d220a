"""Token id -> the raw bytes it adds to the output, read from a `tokenizer.json` (no mlx needed).

The batcher decodes UTF-8 across token boundaries itself (`inference/text.py`), so an engine hands it
bytes, not text: a character split over two byte-fallback tokens must not become two U+FFFD.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")

# llama.cpp ends generation at these token texts whatever the tokenizer metadata says (and treats them
# as control tokens): the bundled Gemma's `</s>` (id 212) is one. The MLX engine does the same, so the
# two engines stop on the same tokens.
LLAMA_EOG_TEXTS = frozenset({
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>", "</s>",
})


def _vocabulary(data: dict) -> dict[str, int]:
    model = data["model"]
    vocab: dict[str, int] = dict(model["vocab"]) if isinstance(model["vocab"], dict) else {
        piece: i for i, (piece, _score) in enumerate(model["vocab"])
    }
    for added in data.get("added_tokens", []):
        vocab.setdefault(added["content"], added["id"])
    return vocab


def end_of_generation_lookalikes(tokenizer_json: Path) -> frozenset[int]:
    """Ids whose text is in LLAMA_EOG_TEXTS."""
    vocab = _vocabulary(json.loads(tokenizer_json.read_text(encoding="utf-8")))
    return frozenset(vocab[text] for text in LLAMA_EOG_TEXTS if text in vocab)


def piece_table(tokenizer_json: Path, control: frozenset[int] = frozenset()) -> list[bytes]:
    """The raw bytes every token contributes to the output, so the batcher's UTF-8 handling is shared.

    SentencePiece-style vocabularies (what the converter writes): `▁` is a space and `<0xHH>` one byte.
    Byte-level BPE vocabularies (GPT-2 style) map each character back to a byte. Special (control)
    tokens, and the ids in `control`, contribute nothing, as llama.cpp's token_to_piece does without
    `special`.
    """
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab = _vocabulary(data)
    special = {t["id"] for t in data.get("added_tokens", []) if t.get("special")} | control
    size = max(vocab.values()) + 1
    table = [b""] * size
    byte_level = "ByteLevel" in json.dumps(data.get("decoder"))
    decode_char = {ch: b for b, ch in _bytes_to_unicode().items()} if byte_level else {}
    for piece, index in vocab.items():
        if index in special:
            continue
        if byte_level:
            table[index] = bytes(decode_char.get(ch, 0) for ch in piece) if all(
                ch in decode_char for ch in piece) else piece.encode("utf-8")
        elif match := _BYTE_PIECE.fullmatch(piece):
            table[index] = bytes([int(match.group(1), 16)])
        else:
            table[index] = piece.replace("\u2581", " ").encode("utf-8")
    return table


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(keep)
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(keep, chars, strict=True)}
