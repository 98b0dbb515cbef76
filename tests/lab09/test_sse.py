"""How the relay reads an upstream: SSELines against two references on random streams cut at random points
(the whole text split at once at the SSE spec's three line ends, and httpx's own line decoder where the two
rules agree), which data lines become events, and a message's text from either shape of content."""

from __future__ import annotations

import re

import pytest
from httpx._decoders import LineDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab09_gateway.sse import SSELines

# what an SSE stream holds: text (with the characters str.splitlines also breaks at) and the three line ends
PIECES = st.sampled_from(["data: ", "{\"a\": 1}", "x", "é", "\u2028", "\u2029", "\x85", "\x1c", "\r", "\n", "\r\n", " "])
SPLITLINES_ONLY = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def feed_in_pieces(text: str, cuts: list[int]) -> list[str]:
    lines, out, last = SSELines(), [], 0
    for cut in sorted(set(cuts)) + [len(text)]:
        out += lines.feed(text[last:cut])
        last = cut
    return out + lines.close()


def spec_lines(text: str) -> list[str]:
    """The reference: the whole text split at once at CRLF, LF or CR; an unterminated last line counts."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":
        lines.pop()
    return lines


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join), st.lists(st.integers(0, 200), max_size=12))
def test_any_cut_of_a_stream_gives_the_lines_of_the_whole(text, cuts):
    cuts = [c for c in cuts if c <= len(text)]
    assert feed_in_pieces(text, cuts) == spec_lines(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES.filter(lambda p: not set(p) & set(SPLITLINES_ONLY)), max_size=40).map("".join),
       st.lists(st.integers(0, 200), max_size=12))
def test_agrees_with_httpx_where_only_the_sse_line_ends_occur(text, cuts):
    cuts = sorted({c for c in cuts if c <= len(text)})
    decoder, expected, last = LineDecoder(), [], 0
    for cut in cuts + [len(text)]:
        if text[last:cut]:
            expected += decoder.decode(text[last:cut])
        last = cut
    expected += decoder.flush()
    assert feed_in_pieces(text, cuts) == expected


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85", "\x1c"])
def test_a_character_that_splitlines_breaks_at_stays_inside_its_line(char):
    text = f'data: {{"content": "a{char}b"}}\n\n'
    assert feed_in_pieces(text, []) == [f'data: {{"content": "a{char}b"}}', ""]
    assert len(text.splitlines()) == 3, "str.splitlines (and so httpx's aiter_lines) would cut the JSON in two"


def test_a_crlf_split_between_two_reads_is_one_line_end():
    lines = SSELines()
    assert lines.feed("data: 1\r") == []
    assert lines.feed("\ndata: 2\r\n\r\n") == ["data: 1", "data: 2", ""]
    assert lines.close() == []


def test_the_relay_keeps_data_events_holding_a_json_object_and_says_when_done_came():
    from labs.lab09_gateway.gateway import _sse_events

    events, done = _sse_events([": keep-alive", "data: 5", "data: {not json", 'data:{"a": 1}', "event: x", ""])
    assert events == [('data: {"a": 1}\n\n', {"a": 1})] and not done
    events, done = _sse_events(["data: [DONE]"])
    assert events == [("data: [DONE]\n\n", None)] and done


def test_a_message_whose_content_is_a_list_of_parts_is_read_as_its_text():
    from labs.lab09_gateway.gateway import _content_text

    assert _content_text("plain") == "plain"
    assert _content_text([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}},
                          {"type": "text", "text": "b"}, "stray", {"type": "text", "text": 5}]) == "ab"
    assert _content_text(None) == "" and _content_text(5) == ""
