"""PII redaction before anything is stored or exported, and the span processor that enforces it.

    python -c "from labs.lab09_gateway.redaction import redact; print(redact('mail ada@example.com, card 4111 1111 1111 1111'))"

Three layers (the chapter's defence in depth): the gateway redacts message content before it writes
the content store (`redact`), a span processor redacts every string attribute and event of every
span before the exporters see it (`RedactingSpanProcessor`), and the Collector runs the same
patterns again, before its tail sampler (`deploy/otel-collector.yaml`, checked by tests/lab09/test_collector.py). Card numbers must also pass the Luhn check, so order ids stay intact.

Right to deletion (`forget`): a user's captured content leaves the content store and the spans that
carry it (found by the keyed hash of their id, `gateway.user.hash`); the metrics and the call rows
stay, unlinked from the user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from labs.lab09_gateway.calls import CallLog
from shared.telemetry import add_span_processor, remove_span_attributes

# the GenAI content attributes: captured (redacted) only when capture is on, shown only to the admin
CONTENT_ATTRIBUTES = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")

PATTERNS: dict[str, re.Pattern[str]] = {
    "KEY": re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}\b|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "EMAIL": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "CARD": re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
    "PHONE": re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(?\d{2,4}\)?[ .-]?){1,3}\d{3,4}(?![\w])"),
}


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def luhn_ok(digits: str) -> bool:
    """The card checksum: double every second digit from the right, sum digits, total % 10 == 0."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass
class Redaction:
    text: str
    found: dict[str, int]


def redact_with_counts(text: str) -> Redaction:
    """Replace keys, emails, card numbers (Luhn-valid) and phone numbers by [KIND]; count each kind."""
    found: dict[str, int] = {}

    def sub(kind: str, pattern: re.Pattern[str], s: str) -> str:
        def repl(m: re.Match[str]) -> str:
            raw = m.group(0)
            digits = re.sub(r"\D", "", raw)
            if kind == "CARD" and not luhn_ok(digits):
                return raw
            if kind == "PHONE" and (not 7 <= len(digits) <= 15 or _DATE.fullmatch(raw)):
                return raw
            found[kind] = found.get(kind, 0) + 1
            return f"[{kind}]"

        return pattern.sub(repl, s)

    for kind, pattern in PATTERNS.items():  # keys and cards before phones: a phone pattern eats card digits
        text = sub(kind, pattern, text)
    return Redaction(text, found)


# What every redacted match contains: an @ (EMAIL), a key prefix (KEY), or at least 7 digits joined only by
# the separators the CARD and PHONE patterns allow (a card has 13+, a phone 7-15). A string without any of
# them is returned as it is, without running the four patterns: span attributes such as "127.0.0.1" or
# "POST /v1/chat/completions" are most of what the span processor sees.
_MAYBE = re.compile(r"@|\d(?:[ ().+-]*\d){6}|[sprk]k-|AKIA|gh[pousr]_")


def redact(text: str) -> str:
    if not _MAYBE.search(text):
        return text
    return redact_with_counts(text).text


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, tuple | list):
        return type(value)(redact(v) if isinstance(v, str) else v for v in value)
    return value


def _redacted(attrs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The attributes with every string redacted, or None when nothing changed (the common case: no copy)."""
    clean = None
    for k, v in (attrs or {}).items():
        r = redact_value(v)
        if r != v:
            if clean is None:
                clean = dict(attrs)
            clean[k] = r
    return clean


class RedactingSpanProcessor(SpanProcessor):
    """Rewrites each finished span's string attributes and event attributes through `redact`.

    It must run before the exporting processors (the gateway adds it with `first=True`), because
    exporters batch spans and read them later from another thread.
    """

    def __init__(self) -> None:
        self.redacted_spans = 0

    def on_end(self, span: ReadableSpan) -> None:
        clean = _redacted(span.attributes)
        events_changed = False
        for event in span.events:
            cleaned = _redacted(event.attributes)
            if cleaned is not None:
                event._attributes = MappingProxyType(cleaned)  # the SDK's Event keeps them in this slot
                events_changed = True
        if clean is not None:
            span._attributes = MappingProxyType(clean)  # ReadableSpan.attributes reads this slot
        if clean is not None or events_changed:
            self.redacted_spans += 1

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_redactor: RedactingSpanProcessor | None = None


def redactor() -> RedactingSpanProcessor:
    """One redacting processor per process, ahead of the exporters."""
    global _redactor
    if _redactor is None:
        _redactor = RedactingSpanProcessor()
        add_span_processor(_redactor, first=True)
    return _redactor


def stored_content(body: dict[str, Any], text: str | None) -> tuple[str, str | None]:
    """(request, response) for the content store, redacted before it is stored: the first layer."""
    req = {"model": body.get("model"), "messages": body.get("messages")}
    return redact(json.dumps(req, ensure_ascii=False)), redact(text) if text is not None else None


def without_content(tree: list[dict]) -> list[dict]:
    """Span trees for the open read-only views: captured content (redacted or not) stays behind the admin key."""
    return [{**node, "attributes": {k: v for k, v in node["attributes"].items() if k not in CONTENT_ATTRIBUTES},
             "children": without_content(node["children"])} for node in tree]


def forget(log: CallLog, uhash: str) -> dict[str, Any]:
    """Right to deletion: the user's stored content, then the content attributes of their spans."""
    removed = log.forget_user(uhash)
    spans = remove_span_attributes(CONTENT_ATTRIBUTES, ("gateway.user.hash", uhash))
    return {"user_hash": uhash, "contents_removed": removed, "spans_scrubbed": spans}


def content_attributes(messages: list[Mapping[str, Any]], output: str | None) -> dict[str, str]:
    """The GenAI content attributes, already redacted (the span processor redacts them again)."""
    return {"gen_ai.input.messages": redact(json.dumps(messages, ensure_ascii=False)),
            "gen_ai.output.messages": redact(json.dumps([{"role": "assistant", "content": output}],
                                                        ensure_ascii=False))}
