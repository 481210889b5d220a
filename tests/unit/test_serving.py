"""Request fields -> engine parameters: the one conversion, and where its defaults come from."""

from __future__ import annotations

from assistants import protocol as p
from assistants.inference.engine import SamplingParams
from assistants.serving.sampling import to_sampling_params


def test_fields_left_out_take_openais_defaults() -> None:
    params = to_sampling_params(None, None)
    assert (params.temperature, params.top_p) == (p.DEFAULT_TEMPERATURE, p.DEFAULT_TOP_P) == (1.0, 1.0)
    assert params == SamplingParams()


def test_given_fields_pass_through_and_stop_becomes_a_tuple() -> None:
    params = to_sampling_params(0.0, 0.5, seed=7, max_tokens=12, stop="\n", grammar="root ::= \"a\"")
    assert params == SamplingParams(temperature=0.0, top_p=0.5, seed=7, max_tokens=12, stop=("\n",),
                                    grammar='root ::= "a"')
    assert params.greedy  # 0 is a value, not "left out"
    assert to_sampling_params(None, None, stop=["a", "b"]).stop == ("a", "b")
