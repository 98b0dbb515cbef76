"""Fill a JSON schema from free text: the structured-output and tool-argument half of the mock.

    python -c "from shared.mockllm.behaviours.schema_fill import fill; \
print(fill({'type': 'object', 'properties': {'name': {'type': 'string'}, 'age': {'type': 'integer'}}, \
'required': ['name', 'age']}, 'Ada Lovelace is 36 years old'))"
    # {'name': 'Ada Lovelace', 'age': 36}

It reads values the way a model would at a glance:
- `key: value` / `key is value` pairs first;
- then by what the property's name says: a city or location is the capitalized place after
  "in / at / for / near" ("weather in Paris" -> "Paris"; origin/destination after "from" / "to"),
  currencies are ISO codes, names or symbols in order of mention ("100 dollars to euros" ->
  USD, EUR), units are the unit words found, emails, ISO dates, capitalized person names;
- numeric properties take the numbers of the text in order ("add 3 and 4" -> a=3, b=4);
- enums pick the member the text mentions, else the schema's default or first member.
"""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME = re.compile(r"\b([A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)+)\b")
_PLACE_AFTER = {
    "from": re.compile(r"\bfrom\s+([A-Z][\w'-]+(?:[ \t]+[A-Z][\w'-]+)*)"),
    "to": re.compile(r"\bto\s+([A-Z][\w'-]+(?:[ \t]+[A-Z][\w'-]+)*)"),
    "in": re.compile(r"\b(?:in|at|for|near|of)\s+([A-Z][\w'-]+(?:[ \t]+[A-Z][\w'-]+)*)"),
}
_CAPITALIZED = re.compile(r"\b[A-Z][a-z][\w'-]*(?:[ \t]+[A-Z][a-z][\w'-]*)*")
_NOT_PLACES = {"what", "what's", "how", "is", "the", "please", "tell", "get", "show", "give", "find", "can",
               "could", "would", "will", "do", "does", "and", "then", "also", "i", "book", "check", "convert",
               "look", "weather", "forecast", "temperature", "time", "current", "today", "tomorrow"}

CURRENCY_CODES = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "CNY", "INR", "SEK", "NOK", "DKK", "NZD",
                  "MXN", "BRL", "KRW", "SGD", "HKD", "PLN", "ZAR"}
CURRENCY_WORDS = {"dollar": "USD", "dollars": "USD", "euro": "EUR", "euros": "EUR", "pound": "GBP",
                  "pounds": "GBP", "sterling": "GBP", "yen": "JPY", "franc": "CHF", "francs": "CHF",
                  "yuan": "CNY", "renminbi": "CNY", "rupee": "INR", "rupees": "INR", "$": "USD", "€": "EUR",
                  "£": "GBP", "¥": "JPY"}
_CURRENCY = re.compile(r"\b(?:" + "|".join(sorted(CURRENCY_CODES)) + r")\b|[$€£¥]|\b(?:"
                       + "|".join(w for w in CURRENCY_WORDS if w.isalpha()) + r")\b", re.IGNORECASE)
UNITS = ["celsius", "fahrenheit", "kelvin", "metric", "imperial", "km", "miles", "kg", "lb", "meters", "feet"]

_LOCATION_KEYS = ("city", "location", "place", "town", "destination", "origin", "country", "where", "region")
_PERSON_KEYS = {"name", "customer", "author", "user", "person", "owner", "assignee", "contact", "sender",
                "recipient", "who", "client", "patient", "employee", "reporter"}
_TEXT_KEYS = ("query", "question", "text", "input", "prompt", "message", "search", "q", "content", "request")


MAX_HOPS = 32  # $ref / anyOf steps followed before a schema counts as circular
MAX_DEPTH = 16  # nesting filled before the filler stops (a safety net: recursion stops at the first repeat)


def _refs(schema: Any) -> set[str]:
    """The $refs a schema points at, directly or as one of its anyOf / oneOf / allOf options."""
    if not isinstance(schema, dict):
        return set()
    options = [schema] + [o for k in ("anyOf", "oneOf", "allOf") if isinstance(schema.get(k), list)
                          for o in schema[k]]
    return {o["$ref"] for o in options if isinstance(o, dict) and isinstance(o.get("$ref"), str)}


def _nullable(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    options = [o for k in ("anyOf", "oneOf") if isinstance(schema.get(k), list) for o in schema[k]]
    return schema.get("type") == "null" or any(isinstance(o, dict) and o.get("type") == "null" for o in options)


def resolve(schema: Any, root: dict[str, Any], hops: int = 0) -> dict[str, Any]:
    """The schema a $ref (or the first non-null anyOf / oneOf / allOf option) stands for."""
    if not isinstance(schema, dict) or hops > MAX_HOPS:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        node: Any = root
        for part in ref[2:].split("/") if ref.startswith("#/") else []:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return resolve(node, root, hops + 1)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            options = [o for o in schema[key] if isinstance(o, dict) and o.get("type") != "null"]
            if options:
                return resolve(options[0], root, hops + 1)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        return resolve(schema["allOf"][0], root, hops + 1)
    return schema


def _pair(text: str, key: str) -> str | None:
    words = re.escape(key).replace("_", "[ _-]?")
    match = re.search(rf"\b{words}\b\s*(?:is|:|=|was)\s*\"?([^\n,;\"]+)", text, re.IGNORECASE)
    return match.group(1).strip().rstrip(".") if match else None


def numbers_in(text: str) -> list[float]:
    """The numbers of a text in order, dates left out ("1,000" is one thousand)."""
    text = _DATE.sub(" ", text)
    return [float(m.group().replace(",", "")) for m in _NUMBER.finditer(text)]


def currencies_in(text: str) -> list[str]:
    """Currencies in order of mention, except that the one attached to an amount ("1,500 euros",
    "$20") comes first: it is what is being converted from."""
    found = []
    for match in _CURRENCY.finditer(text):
        word = match.group()
        code = word.upper() if word.upper() in CURRENCY_CODES else CURRENCY_WORDS[word.lower()]
        before, after = text[max(0, match.start() - 2):match.start()], text[match.end():match.end() + 2]
        attached = bool(re.search(r"\d\s?$", before) or re.match(r"^\s?\d", after))
        found.append((not attached, code))
    return [code for _, code in sorted(found, key=lambda f: f[0])]


def place(text: str, key: str = "") -> str | None:
    """The place a request is about: after from/to for origin/destination keys, else after in/at/for."""
    parts = set(re.split(r"[_\W]+", key.lower()))
    order = ["from", "in", "to"] if parts & {"origin", "from", "source", "departure"} else \
        ["to", "in", "from"] if parts & {"destination", "to", "arrival"} else ["in", "to", "from"]
    for prep in order:
        for match in _PLACE_AFTER[prep].finditer(text):
            candidate = match.group(1)
            if candidate.upper() not in CURRENCY_CODES and candidate.lower() not in _NOT_PLACES:
                return candidate
    for match in _CAPITALIZED.finditer(text):
        words = [w for w in match.group().split() if w.lower() not in _NOT_PLACES]
        if words:
            return " ".join(words)
    return None


class _Filler:
    """One fill of one text: remembers which numbers and currencies earlier properties took."""

    def __init__(self, text: str, root: dict[str, Any]):
        self.text, self.root = text, root
        self.numbers = numbers_in(text)
        self.currencies = currencies_in(text)

    def next_number(self, raw: str | None) -> float | None:
        if raw and (found := numbers_in(raw)):
            return found[0]
        return self.numbers.pop(0) if self.numbers else None

    def value(self, schema: dict[str, Any], key: str = "", path: tuple[str, ...] = ()) -> Any:
        refs = _refs(schema)
        recursive = bool(refs & set(path)) or len(path) > MAX_DEPTH
        path = path + tuple(sorted(refs))
        if recursive and _nullable(schema):
            return None  # a type that contains itself: a model ends the chain here (a leaf)
        schema = resolve(schema, self.root)
        kind = schema.get("type")
        if recursive and (kind in ("object", "array") or "properties" in schema):
            return [] if kind == "array" else {}
        text = self.text
        raw = _pair(text, key) if key else None
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            for option in schema["enum"]:
                if str(option).lower() in text.lower():
                    return option
            return schema.get("default", schema["enum"][0])
        if "const" in schema:
            return schema["const"]
        if kind == "object" or "properties" in schema:
            props = schema.get("properties")
            return {str(name): self.value(sub, str(name), path + ("",)) for name, sub in props.items()} if isinstance(
                props, dict) else {}
        if kind == "array":
            item = schema.get("items", {"type": "string"})
            if _refs(item) & set(path):
                return []  # a list of the type being filled (children of a tree node): a leaf has none
            if resolve(item, self.root).get("type") == "string":
                found = [w.strip() for w in re.split(r",|\band\b", raw or "") if w.strip()] or _NAME.findall(text)[:3]
                return found or [text.split()[0] if text.split() else ""]
            return [self.value(item, key, path + ("",))]
        if kind in ("integer", "number"):
            number = self.next_number(raw)
            if number is None:
                number = schema.get("default", 0)
            return int(number) if kind == "integer" else float(number)
        if kind == "boolean":
            return bool(raw and raw.lower() in {"true", "yes", "1"})
        if kind == "null":
            return None
        return self.string(schema, key, raw)

    def string(self, schema: dict[str, Any], key: str, raw: str | None) -> str:
        low, text = key.lower(), self.text
        if schema.get("format") == "email" or "email" in low:
            match = _EMAIL.search(text)
            return match.group() if match else (raw or "")
        if schema.get("format") == "date" or "date" in low:
            match = _DATE.search(text)
            return match.group() if match else (raw or "")
        if raw:
            return raw
        if "currency" in low or low in ("base", "target", "quote", "from", "to", "source"):
            if self.currencies:
                last = bool(set(re.split(r"[_\W]+", low)) & {"to", "target", "quote"})
                return self.currencies.pop(-1 if last else 0)
        if "unit" in low:
            for unit in UNITS:
                if re.search(rf"\b{unit}\b", text, re.IGNORECASE):
                    return unit
            return str(schema.get("default", "celsius"))
        if any(k in low for k in _LOCATION_KEYS):
            found = place(text, key)
            if found:
                return found
        if low in _TEXT_KEYS or any(low.endswith(k) for k in ("query", "question")):
            return text.strip()[:500]
        if "name" in low or set(re.split(r"[_\W]+", low)) & _PERSON_KEYS:
            match = _NAME.search(text)
            if match:
                return match.group(1)
        if "default" in schema:
            return str(schema["default"])
        return text.strip().split("\n")[-1][:200]


def fill(schema: dict[str, Any], text: str, key: str = "", root: dict[str, Any] | None = None) -> Any:
    """A value for `schema` read from `text` (`key`: the property name it will be stored under)."""
    return _Filler(text, root or schema).value(schema, key, ("#",) if root is None else ())
