"""Fill a JSON schema from free text: the structured-output half of the mock.

    python -c "from shared.mockllm.behaviours.schema_fill import fill; \
print(fill({'type': 'object', 'properties': {'name': {'type': 'string'}, 'age': {'type': 'integer'}}, \
'required': ['name', 'age']}, 'Ada Lovelace is 36 years old'))"

It reads values the way a model would at a glance: `key: value` / `key = value` pairs first, then
emails, numbers, dates, capitalized names and enum members mentioned in the text.
"""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME = re.compile(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)\b")


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {})
        return _resolve(node, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            if options:
                return _resolve(options[0], root)
    if "allOf" in schema and schema["allOf"]:
        return _resolve(schema["allOf"][0], root)
    return schema


def _pair(text: str, key: str) -> str | None:
    words = re.escape(key).replace("_", "[ _-]?")
    match = re.search(rf"\b{words}\b\s*(?:is|:|=|was)\s*\"?([^\n,;\"]+)", text, re.IGNORECASE)
    return match.group(1).strip().rstrip(".") if match else None


def _number(raw: str | None, text: str, integer: bool) -> int | float:
    source = raw if raw and _NUMBER.search(raw) else text
    match = _NUMBER.search(source or "")
    value = float(match.group()) if match else 0.0
    return int(value) if integer else value


def fill(schema: dict[str, Any], text: str, key: str = "", root: dict[str, Any] | None = None) -> Any:
    root = root or schema
    schema = _resolve(schema, root)
    kind = schema.get("type")
    raw = _pair(text, key) if key else None
    if "enum" in schema:
        for option in schema["enum"]:
            if str(option).lower() in text.lower():
                return option
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: fill(sub, text, name, root) for name, sub in props.items()}
    if kind == "array":
        item = schema.get("items", {"type": "string"})
        if _resolve(item, root).get("type") == "string":
            found = [w.strip() for w in (raw or "").split(" and ") if w.strip()] or _NAME.findall(text)[:3]
            return found or [text.split()[0] if text.split() else ""]
        return [fill(item, text, key, root)]
    if kind == "integer":
        return _number(raw, text, True)
    if kind == "number":
        return _number(raw, text, False)
    if kind == "boolean":
        return bool(raw and raw.lower() in {"true", "yes", "1"})
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt == "email" or "email" in key.lower():
        match = _EMAIL.search(text)
        return match.group() if match else (raw or "")
    if fmt == "date" or "date" in key.lower():
        match = _DATE.search(text)
        return match.group() if match else (raw or "")
    if raw:
        return raw
    if "name" in key.lower():
        match = _NAME.search(text)
        if match:
            return match.group(1)
    return text.strip().split("\n")[-1][:200]
