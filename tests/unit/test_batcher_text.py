"""Stop strings and UTF-8 decoding across token boundaries."""

from __future__ import annotations

from assistants.inference.text import StopMatcher, TokenTextDecoder


def run(matcher: StopMatcher, pieces: list[str]) -> tuple[list[str], str]:
    emitted = [matcher.feed(piece) for piece in pieces]
    return emitted, matcher.flush()


def test_no_stops_passes_text_through() -> None:
    assert run(StopMatcher([]), ["ab", "c"]) == (["ab", "c"], "")


def test_stop_inside_one_piece_trims_it_and_the_rest() -> None:
    matcher = StopMatcher(["END"])
    assert run(matcher, ["helloENDworld", "more"]) == (["hello", ""], "")
    assert matcher.stopped


def test_stop_split_over_pieces_is_held_then_dropped() -> None:
    matcher = StopMatcher(["\n\nUser:"])
    emitted, tail = run(matcher, ["Hi", "\n", "\nUs", "er:", " x"])
    assert emitted == ["Hi", "", "", "", ""]
    assert tail == "" and matcher.stopped


def test_held_prefix_is_released_when_it_turns_out_not_to_be_a_stop() -> None:
    matcher = StopMatcher(["abc"])
    emitted, tail = run(matcher, ["xa", "b", "d"])
    assert emitted == ["x", "", "abd"]
    assert tail == "" and not matcher.stopped


def test_flush_returns_a_partial_prefix_at_end_of_generation() -> None:
    matcher = StopMatcher(["abc"])
    assert run(matcher, ["xab"]) == (["x"], "ab")


def test_earliest_of_several_stops_wins() -> None:
    matcher = StopMatcher(["world", "lo w"])
    assert run(matcher, ["hello world"]) == (["hel"], "")


def test_only_the_possible_prefix_is_held() -> None:
    # "aab" ends with "ab", a prefix of "abc": hold two characters, not three.
    assert StopMatcher(["abc"]).feed("aab") == "a"


def test_empty_stop_strings_are_ignored() -> None:
    assert run(StopMatcher(["", "z"]), ["abc"]) == (["abc"], "")


def test_decoder_joins_a_character_split_over_tokens() -> None:
    decoder = TokenTextDecoder()
    euro = "€".encode()
    assert decoder.feed(euro[:1]) == ""
    assert decoder.feed(euro[1:2]) == ""
    assert decoder.feed(euro[2:] + b"!") == "€!"
    assert decoder.flush() == ""


def test_decoder_replaces_a_truncated_character_at_the_end() -> None:
    decoder = TokenTextDecoder()
    assert decoder.feed("é".encode()[:1]) == ""
    assert decoder.flush() == "\ufffd"


def test_decoder_replaces_invalid_bytes_and_goes_on() -> None:
    decoder = TokenTextDecoder()
    assert decoder.feed(b"a\xffb") == "a\ufffdb"


def test_the_matched_stop_is_the_earliest_in_the_text() -> None:
    matcher = StopMatcher(["world", "lo"])
    run(matcher, ["hel", "lo world"])
    assert matcher.stopped and matcher.matched == "lo"
    unmatched = StopMatcher(["zz"])
    run(unmatched, ["abc"])
    assert unmatched.matched is None
