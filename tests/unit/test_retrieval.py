"""The pure parts of retrieval: extraction, chunking, filters, fusion, and the SQLite chunk index."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from assistants.protocol.vector_stores import parse_filter
from assistants.retrieval.chunking import chunk_tokens
from assistants.retrieval.extract import InvalidFile, UnsupportedFile, extract_text
from assistants.retrieval.filters import matches
from assistants.retrieval.search import RRF_K, Mode, fuse, search
from assistants.retrieval.sqlite_index import SqliteChunkIndex


def _pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (built by hand, with a correct xref table)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_extracts_each_supported_kind() -> None:
    import docx

    assert extract_text("a.md", "\ufeff# Title\nbody".encode()) == "# Title\nbody"
    assert extract_text("a.py", b"def f():\n    return 1\n").startswith("def f()")
    assert extract_text("a.json", b'{"k": "value"}') == '{"k": "value"}'
    html = (b"<html><head><script>var x=1</script><style>p{}</style></head>"
            b"<body><p>One &amp; two</p></body></html>")
    assert extract_text("a.html", html) == "One & two"
    assert "Marmalade accord" in extract_text("a.pdf", _pdf("Marmalade accord of 1701"))
    document = docx.Document()
    document.add_paragraph("Paragraph text")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "cell a", "cell b"
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract_text("a.docx", buffer.getvalue()) == "Paragraph text\ncell a | cell b"
    assert extract_text("a.txt", "héllo".encode("utf-16")) == "héllo"


@pytest.mark.parametrize(("name", "data", "error"), [
    ("a.exe", b"MZ", UnsupportedFile),
    ("noext", b"text", UnsupportedFile),
    ("a.txt", b"", InvalidFile),
    ("a.txt", b"   \n\t", InvalidFile),
    ("a.txt", b"\xff\xfa\x00junk", InvalidFile),
    ("a.txt", b"nul\x00inside", InvalidFile),
    ("a.json", b"{broken", InvalidFile),
    ("a.pdf", b"%PDF-1.4 garbage", InvalidFile),
    ("a.docx", b"PK\x03\x04 not a zip", InvalidFile),
    ("a.html", b"<script>only()</script>", InvalidFile),
])
def test_bad_files_fail_with_the_right_reason(name: str, data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        extract_text(name, data)


def test_chunks_overlap_and_keep_the_source_text() -> None:
    text = "aa bb cc dd ee ff gg"
    offsets = [(index * 3, index * 3 + 2) for index in range(7)]
    chunks = chunk_tokens(text, list(range(7)), offsets, max_tokens=4, overlap=2)
    assert [chunk.text for chunk in chunks] == ["aa bb cc dd", "cc dd ee ff", "ee ff gg"]
    assert [chunk.token_ids for chunk in chunks] == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6]]
    assert [c.text for c in chunk_tokens(text, list(range(7)), offsets, 4, 0)] == ["aa bb cc dd", "ee ff gg"]
    assert chunk_tokens("", [], [], 800, 400) == []


def test_filters() -> None:
    attributes = {"year": 2024, "team": "a", "public": True}

    def check(raw: dict) -> bool:
        return matches(parse_filter(raw), attributes)

    assert check({"type": "eq", "key": "team", "value": "a"})
    assert check({"type": "gte", "key": "year", "value": 2024}) and not check({"type": "gt", "key": "year",
                                                                               "value": 2024})
    assert check({"type": "in", "key": "team", "value": ["a", "b"]})
    assert check({"type": "nin", "key": "team", "value": ["b"]})
    assert check({"type": "ne", "key": "absent", "value": 1}) and not check({"type": "eq", "key": "absent",
                                                                             "value": 1})
    assert not check({"type": "eq", "key": "public", "value": 1})  # a boolean is not a number
    assert not check({"type": "gt", "key": "team", "value": 1})  # across types: false
    assert check({"type": "or", "filters": [{"type": "eq", "key": "team", "value": "z"},
                                            {"type": "and", "filters": [{"type": "eq", "key": "public",
                                                                         "value": True},
                                                                        {"type": "lt", "key": "year",
                                                                         "value": 2025}]}]})


def test_fusion_scores_are_in_0_1_and_ties_go_by_chunk_id() -> None:
    fused = fuse([[3, 1, 2], [1, 3, 2]], best=2 / (RRF_K + 1))
    assert [chunk_id for chunk_id, _ in fused] == [1, 3, 2]  # 1 and 3 tie; the lower id first
    assert fused[0][1] == fused[1][1] < 1.0 and all(0 <= score <= 1 for _, score in fused)
    assert fuse([[5], [5]], best=2 / (RRF_K + 1)) == [(5, 1.0)]


def test_sqlite_index_hybrid_search(tmp_path: Path) -> None:
    index = SqliteChunkIndex(tmp_path / "chunks.sqlite3", "test-model", 3)
    vectors = np.eye(3, dtype=np.float32)
    index.replace_file("vs_1", "file-a", ["red apples grow", "blue sea water"], vectors[:2])
    index.replace_file("vs_1", "file-b", ["green grass grows"], vectors[2:])
    index.replace_file("vs_2", "file-a", ["red apples grow"], vectors[:1])
    query = np.array([[0.0, 0.2, 1.0]], dtype=np.float32)
    hits = search(index, {"vs_1": ["file-a", "file-b"]}, ["grass"], query, 10)
    assert (hits[0].file_id, hits[0].text, hits[0].score) == ("file-b", "green grass grows", 1.0)
    assert {hit.store_id for hit in hits} == {"vs_1"}
    assert [hit.text for hit in search(index, {"vs_1": ["file-a"]}, ["grass"], query, 10)] == [
        "blue sea water", "red apples grow"]  # vector order, restricted to file-a
    assert [hit.text for hit in search(index, {"vs_1": ["file-a", "file-b"]}, ["apples"], query, 10,
                                       mode=Mode.KEYWORD)] == ["red apples grow"]
    assert len(search(index, {"vs_1": ["file-a", "file-b"]}, ["grass"], query, 1)) == 1
    assert all(hit.score >= 0.5 for hit in search(index, {"vs_1": ["file-a", "file-b"]}, ["grass"], query, 10,
                                                  threshold=0.5))
    index.replace_file("vs_1", "file-a", ["only chunk now"], vectors[:1])  # re-ingest replaces
    index.remove_file("vs_1", "file-b")
    assert index.file_keys() == {("vs_1", "file-a"), ("vs_2", "file-a")}
    index.remove_store("vs_1")
    assert index.file_keys() == {("vs_2", "file-a")}
    index.close()
    reopened = SqliteChunkIndex(tmp_path / "chunks.sqlite3", "test-model", 3)
    assert not reopened.rebuilt and reopened.file_keys() == {("vs_2", "file-a")}
    reopened.close()
    other_model = SqliteChunkIndex(tmp_path / "chunks.sqlite3", "another-model", 4)
    assert other_model.rebuilt and other_model.file_keys() == set()
    other_model.close()
