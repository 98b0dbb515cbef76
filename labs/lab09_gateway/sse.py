"""Server-sent events read a network read at a time: the lines the gateway relays, split as the SSE spec says.

    python -c "from labs.lab09_gateway.sse import SSELines; s = SSELines(); print(s.feed('data: a\\r'), s.feed('\\ndata: b\\n'))"

An upstream stream arrives in reads of any size, cut anywhere: inside an event, inside a line, between
the CR and the LF of a CRLF. `SSELines.feed(text)` returns the lines that one read completed and keeps
the rest for the next; `close()` returns an unterminated last line, if the stream ended inside one.

Why not httpx's `aiter_lines`: it splits like `str.splitlines`, which also breaks a line at U+2028,
U+2029, U+0085 and \\x1c-\\x1e. An upstream that writes JSON as UTF-8 (pydantic's `model_dump_json`
does) leaves those characters raw inside a string, so a token holding one would reach the gateway as
two halves of a JSON document, neither of which parses, and the chunk would be lost. The SSE spec ends
a line at CRLF, LF or CR only, and nothing else. Handing the caller every line of a read at once also
lets the gateway relay all the events of one read in one write (relay.py).
"""

from __future__ import annotations

import re

_LINE_END = re.compile(r"\r\n|\r|\n")
DONE = "data: [DONE]\n\n"  # the event that ends an OpenAI-style stream


class SSELines:
    """Lines out of text that arrives in pieces; a line ends at CRLF, LF or CR (the SSE spec's three)."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, text: str) -> list[str]:
        """The lines this piece completes, without their line ends."""
        text = self._rest + text
        held_cr = text.endswith("\r")  # perhaps the first half of a CRLF whose LF is in the next piece
        if held_cr:
            text = text[:-1]
        lines = _LINE_END.split(text)
        self._rest = lines.pop() + ("\r" if held_cr else "")
        return lines

    def close(self) -> list[str]:
        """The last line when the stream ended inside it (or right after a lone CR)."""
        rest, self._rest = self._rest, ""
        if not rest:
            return []
        return [rest[:-1] if rest.endswith("\r") else rest]
