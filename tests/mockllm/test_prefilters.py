"""The mock's cheap pre-tests (substring checks before a regex scans a long prompt) change no answer:
each function gives what its plain regex form gives, on random texts built to hit and miss."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.mockllm.behaviours import assistant, structured

FRAGMENTS = ["validation error found", "validation errors found", "Correct your JSON", "fix the errors",
             "recall the function", "unknown tool", "no such tool", "does not exist", "invalid json",
             "invalid arguments", "could not parse", "failed to parse", "tool", "parse", "invalid", "6 * 7",
             "12 x 3", "4×5", "9 ÷ 3", "2^8", "(3 + 4) * 2", "1,234 + 1", "ten times two", "6 times 7",
             "Sentence 1 about the outage.", "What is", "x", "-", "?", ".", "!", " ", "\n", "\u00e9", "Summarize:"]
texts = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=30).map("".join)


def arithmetic_plain(text: str) -> str | None:
    """assistant.arithmetic without its operator pre-test."""
    text = assistant.word_ops(text)
    text = assistant._THOUSANDS.sub("", text) if "," in text else text
    if not assistant._BINARY.search(text):
        return None
    for match in sorted(assistant._EXPR.findall(text), key=len, reverse=True):
        candidate = match.strip().rstrip("?.").strip()
        if not assistant._BINARY.search(candidate):
            continue
        try:
            return assistant.format_number(assistant.safe_eval(candidate))
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError):
            continue
    return None


@settings(max_examples=300, deadline=None)
@given(texts)
def test_is_correction_equals_its_regex(text):
    assert structured.is_correction(text) == bool(structured._CORRECTION.search(text[:2000].lower()))


@settings(max_examples=300, deadline=None)
@given(texts)
def test_arithmetic_equals_the_unfiltered_scan(text):
    assert assistant.arithmetic(text) == arithmetic_plain(text)


@settings(max_examples=200, deadline=None)
@given(texts, st.integers(1, 4))
def test_summarize_equals_a_full_split(text, n):
    body = text.split(":", 1)[1] if ":" in text[:80] else text
    full = re.split(r"(?<=[.!?])\s+", body.strip())
    assert assistant.summarize(text, n) == " ".join(full[:n]).strip()


def split_token_by_token(text: str) -> list[str]:
    """tokens.split from its definition: a piece ends after the first token at which the bytes since the
    last piece decode as UTF-8."""
    from shared.mockllm.tokens import encoding

    enc = encoding()
    raw = [enc.decode_single_token_bytes(t) for t in enc.encode(text, disallowed_special=())]
    pieces, start = [], 0
    for end in range(1, len(raw) + 1):
        try:
            pieces.append(b"".join(raw[start:end]).decode("utf-8"))
        except UnicodeDecodeError:
            continue
        start = end
    if start < len(raw):
        pieces.append(b"".join(raw[start:]).decode("utf-8", errors="replace"))
    return pieces


@settings(max_examples=200, deadline=None)
@given(texts | st.text(alphabet="a é€😀🧪漢字\n", max_size=40))
def test_split_equals_the_token_by_token_decode(text):
    from shared.mockllm.tokens import split

    assert split(text) == split_token_by_token(text)
    assert "".join(split(text)) == text
