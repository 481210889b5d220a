"""Constrained decoding in the GGUF engine with the real model, below HTTP: a schema's grammar refuses
the outputs that broke "valid by construction" (issue 11), and under concurrent load every finished
constrained output validates (tests/constrained_load.py; `benchmarks/constrained.py --stress N` runs
the same load longer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistants.inference.engine import SamplingParams
from assistants.inference.gbnf import grammar_for_schema
from assistants.inference.gguf import GGUFEngine
from tests.constrained_load import SCHEMAS, run_load


@pytest.fixture(scope="module")
def engine(bundled_model: Path) -> Iterator[GGUFEngine]:
    engine = GGUFEngine(bundled_model, ctx_size=8 * 1024, parallel=8, threads=2)
    yield engine
    engine.close()


def grammar_takes(engine: GGUFEngine, schema: dict, text: str) -> bool:
    """Whether the schema's grammar lets the engine's grammar sampler write `text`, token by token: each
    token is offered as the only likely one, and the sampler takes it only if the grammar allows it."""
    sampler = engine._sampler(SamplingParams(temperature=0.0, grammar=grammar_for_schema(schema)))
    logits = np.zeros(engine.n_vocab, dtype=np.float32)
    try:
        for token in engine.tokenize(text, add_special=False, parse_special=False):
            logits[token] = 100.0
            taken = sampler.sample(logits)
            logits[token] = 0.0
            if taken != token:
                return False
        return True
    finally:
        sampler.close()


@pytest.mark.parametrize("name, text", [
    ("poem", '{"title": "a\nb", "lines": ["x"]}'),  # a raw newline inside a string
    ("poem", '{"title": "tab\there", "lines": ["x"]}'),
    ("locales", '{"code": "en", "alternates": ["zh-cn0"]}'),  # the pattern behind a $ref
    ("nullable", '{"name": "x", "lang": "zh-cn0", "size": "S"}'),  # the pattern beside a type list
    ("address", '{"street": "ab"c", "zip": "12345", "country": "US"}'),  # a quote from [^,]
    ("address", '{"street": "ab\\c", "zip": "12345", "country": "US"}'),  # a lone backslash from [^,]
])
def test_the_grammar_refuses_output_that_would_not_validate(engine: GGUFEngine, name: str, text: str) -> None:
    assert not grammar_takes(engine, SCHEMAS[name], text)


@pytest.mark.parametrize("name, text", [
    ("poem", '{"title": "a\\nb", "lines": ["one", "two"]}'),
    ("locales", '{"code": "en", "alternates": ["zh-cn", "en-us"]}'),
    ("nullable", '{"name": "x", "lang": null, "size": "S"}'),
    ("address", '{"street": "1 Rue de la Paix", "zip": "75002", "country": "FR"}'),
    ("escapes", '{"path": "C:\\\\temp", "quote": "say \\"hi\\"", "note": "ok"}'),
])
def test_the_grammar_takes_output_that_validates(engine: GGUFEngine, name: str, text: str) -> None:
    assert grammar_takes(engine, SCHEMAS[name], text)


def test_control_tokens_are_never_written_into_constrained_output(engine: GGUFEngine) -> None:
    """`<unused0>` reads as text to the grammar but shows as nothing: it would fill a minLength unseen."""
    sampler = engine._sampler(SamplingParams(temperature=0.0, grammar=grammar_for_schema(
        {"type": "object", "properties": {"s": {"type": "string", "minLength": 9}}, "required": ["s"]})))
    logits = np.zeros(engine.n_vocab, dtype=np.float32)
    try:
        for token in engine.tokenize('{"s": "', add_special=False, parse_special=False):
            logits[token] = 100.0
            assert sampler.sample(logits) == token
            logits[token] = 0.0
        unused = engine.tokenize("<unused0>", add_special=False, parse_special=True)
        assert len(unused) == 1 and engine.token_bytes(unused[0]) == b""
        logits[unused[0]] = 100.0
        assert sampler.sample(logits) != unused[0]
    finally:
        sampler.close()


async def test_constrained_outputs_validate_under_concurrent_load(engine: GGUFEngine) -> None:
    report = await run_load(engine, 32, max_tokens=64)
    assert not report.invalid, report.summary() + "".join(f"\n{case}: {text!r}: {why}"
                                                          for case, text, why in report.invalid)
    assert report.finished >= report.constrained // 3, report.summary()  # enough outputs were checked
