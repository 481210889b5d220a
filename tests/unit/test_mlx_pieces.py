"""The MLX engine's token -> bytes table, from tokenizer.json alone (runs without the mlx extra)."""

from __future__ import annotations

import json
from pathlib import Path

from assistants.inference.mlx.pieces import end_of_generation_lookalikes, piece_table


def write(tmp_path: Path, vocab: dict[str, int], decoder: dict, added: list[dict]) -> Path:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab}, "decoder": decoder,
                                "added_tokens": added}), encoding="utf-8")
    return path


def test_sentencepiece_pieces_spaces_bytes_and_control_tokens(tmp_path: Path) -> None:
    vocab = {"<eos>": 0, "\u2581hello": 1, "<0xE2>": 2, "<0x82>": 3, "<0xAC>": 4, "é": 5,
             "<start_of_turn>": 6}
    decoder = {"type": "Sequence", "decoders": [{"type": "Replace"}, {"type": "ByteFallback"}]}
    added = [{"id": 0, "content": "<eos>", "special": True},
             {"id": 6, "content": "<start_of_turn>", "special": True}]
    table = piece_table(write(tmp_path, vocab, decoder, added))
    assert table[1] == b" hello"
    assert b"".join(table[2:5]) == "€".encode()  # one character over three byte-fallback tokens
    assert table[5] == "é".encode()
    assert table[0] == table[6] == b""  # control tokens add no text, as llama.cpp's pieces


def test_byte_level_pieces_map_back_to_bytes(tmp_path: Path) -> None:
    vocab = {"Ġworld": 0, "Ċ": 1, "Ã©": 2, "<|im_end|>": 3}
    added = [{"id": 3, "content": "<|im_end|>", "special": True}]
    table = piece_table(write(tmp_path, vocab, {"type": "ByteLevel"}, added))
    assert table[:4] == [b" world", b"\n", "é".encode(), b""]


def test_llama_cpp_end_tokens_are_found_and_output_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, {"\u2581a": 0, "</s>": 1, "<end_of_turn>": 2}, {"type": "Sequence"}, [])
    lookalikes = end_of_generation_lookalikes(path)
    assert lookalikes == {1, 2}
    assert piece_table(path, control=lookalikes) == [b" a", b"", b""]
