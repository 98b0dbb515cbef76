"""Grammar-constrained decoding: a JSON-schema automaton masks every token that would break the schema.

    python -m labs.lab05_patterns.constrained "Ada Lovelace, 36, engineer"

The fourth rung of the reliability ladder. At each step the decoder asks a model for logits over its
vocabulary, sets the logit of every token the grammar cannot accept to -inf, and picks from what is
left (argmax at T = 0, otherwise `sampling.distribution`). EOS is allowed only when the JSON is
complete. Because every state the automaton can reach still has a completion, and every string,
number and array is length-bounded, the loop always ends within `max_chars(grammar)` tokens with
text that parses and validates: schema-valid by construction, whatever the model prefers.

    z_t[v] = -inf  if feeding token v's characters to the automaton fails, else model logit
    y_t    = argmax_v z_t[v]      (or a sample from softmax(z_t / T))

Which model and why: there are no pretrained weights offline, and the mock returns text, not logits.
So the logits come from `CopyModel`, an induction-head-like copier over the mock's own draft answer
(its JSON-mode completion, failures included): it keeps a pointer into the draft, predicts the token
found there (with a few characters of look-ahead), re-syncs on a key name when the grammar forces
text the draft lacks, and otherwise prefers closing the value. That is the mock's preference turned into logits; the automaton
is the real mechanism (the same one llama.cpp grammars and Outlines apply to a real model's logits),
and it works over a vocabulary with multi-character tokens (keys, `":`, `",`), which is where masking
gets subtle: a token is allowed only if all of its characters are.

Supported schema subset (anything else raises UnsupportedSchema rather than weaken the guarantee):
objects (every property, in order), strings (printable ASCII, no escapes, maxLength <= 200), integers
and numbers (minimum 0 allowed), booleans, null, string enums / Literals, arrays (maxItems, minItems),
Optional[X] (anyOf with null), local $ref.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labs.lab05_patterns.person import Person
from labs.lab05_patterns.sampling import SamplingParams, distribution, sample


class UnsupportedSchema(ValueError):
    pass


# --- grammar nodes ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Str:
    max_len: int = 40
    min_len: int = 0


@dataclass(frozen=True)
class Enum:
    options: tuple[str, ...]  # JSON-encoded; quoted strings, true/false/null: no option prefixes another


@dataclass(frozen=True)
class Num:
    integer: bool = True
    signed: bool = True
    max_digits: int = 9
    max_frac: int = 4


@dataclass(frozen=True)
class Arr:
    item: Any
    max_items: int = 4
    min_items: int = 0


@dataclass(frozen=True)
class Seq:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Ws:
    """At most one optional space (after ':' and ',', where models like to put one)."""


@dataclass(frozen=True)
class Union:
    options: tuple[Any, ...]  # first characters are disjoint, so the first char picks the branch


PRINTABLE = "".join(chr(i) for i in range(32, 127))
STRING_CHARS = frozenset(PRINTABLE) - {'"', "\\"}


def _first_chars(node: Any) -> set[str]:
    if isinstance(node, Lit):
        return {node.text[0]}
    if isinstance(node, Str):
        return {'"'}
    if isinstance(node, Enum):
        return {o[0] for o in node.options}
    if isinstance(node, Num):
        return set("0123456789") | ({"-"} if node.signed else set())
    if isinstance(node, Arr):
        return {"["}
    if isinstance(node, Seq):
        return _first_chars(node.items[0])
    if isinstance(node, Union):
        return set().union(*(_first_chars(o) for o in node.options))
    raise UnsupportedSchema(f"no first characters for {node!r}")


def compile_schema(schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A Pydantic/JSON schema -> grammar nodes."""
    root = root or schema
    if depth > 8:
        raise UnsupportedSchema("schema nests deeper than 8 levels (recursive $ref?)")
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise UnsupportedSchema(f"only local $ref is supported, got {ref!r}")
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return compile_schema(node, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [compile_schema(o, root, depth + 1) for o in schema[key]]
            firsts = [_first_chars(o) for o in options]
            if sum(len(f) for f in firsts) != len(set().union(*firsts)):
                raise UnsupportedSchema(f"{key} branches must start differently (e.g. X | null)")
            return Union(tuple(options))
    for bad in ("pattern", "maximum", "exclusiveMaximum", "exclusiveMinimum", "multipleOf", "allOf",
                "patternProperties", "format"):
        if bad in schema:
            raise UnsupportedSchema(f"the decoder cannot enforce {bad!r}")
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        if not all(isinstance(v, str | bool) or v is None for v in values):
            raise UnsupportedSchema("enums must hold strings, booleans or null")
        return Enum(tuple(json.dumps(v) for v in values))
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if not props:
            return Lit("{}")
        items: list[Any] = [Lit("{")]
        for i, (name, sub) in enumerate(props.items()):
            if not re.fullmatch(r"[A-Za-z0-9_ -]+", name):
                raise UnsupportedSchema(f"property name {name!r} needs escaping")
            if i:
                items += [Lit(","), Ws()]
            items += [Lit(json.dumps(name) + ":"), Ws(), compile_schema(sub, root, depth + 1)]
        items.append(Lit("}"))
        return Seq(tuple(items))
    if kind == "string":
        max_len = int(schema.get("maxLength", 40))
        if max_len > 200:
            raise UnsupportedSchema("maxLength above 200 would make decoding unbounded in practice")
        return Str(max_len=max_len, min_len=int(schema.get("minLength", 0)))
    if kind in ("integer", "number"):
        minimum = schema.get("minimum")
        if minimum is not None and minimum != 0:
            raise UnsupportedSchema("only minimum 0 is supported for numbers")
        return Num(integer=kind == "integer", signed=minimum is None)
    if kind == "boolean":
        return Enum(("true", "false"))
    if kind == "null":
        return Enum(("null",))
    if kind == "array":
        return Arr(compile_schema(schema.get("items", {"type": "string"}), root, depth + 1),
                   max_items=int(schema.get("maxItems", 4)), min_items=int(schema.get("minItems", 0)))
    raise UnsupportedSchema(f"unsupported schema: {json.dumps(schema)[:120]}")


def max_chars(node: Any) -> int:
    """An upper bound on the length of any text the grammar accepts (so decoding always ends)."""
    if isinstance(node, Lit):
        return len(node.text)
    if isinstance(node, Str):
        return node.max_len + 2
    if isinstance(node, Enum):
        return max(len(o) for o in node.options)
    if isinstance(node, Num):
        return 1 + node.max_digits + (0 if node.integer else 1 + node.max_frac)
    if isinstance(node, Arr):
        return 2 + node.max_items * (max_chars(node.item) + 2)
    if isinstance(node, Seq):
        return sum(max_chars(i) for i in node.items)
    if isinstance(node, Ws):
        return 1
    if isinstance(node, Union):
        return max(max_chars(o) for o in node.options)
    raise UnsupportedSchema(repr(node))


# --- the automaton: a stack of immutable frames, so trying a token costs no copying -----------------

Frame = tuple
Stack = tuple


def _init(node: Any) -> Frame:
    if isinstance(node, Str | Arr):
        return (node, 0, 0)
    if isinstance(node, Ws):
        return (node, False)
    if isinstance(node, Enum | Num):
        return (node, "")
    return (node, 0)


def _accepting(frame: Frame) -> bool:
    node = frame[0]
    if isinstance(node, Ws):
        return True
    if isinstance(node, Seq):
        return all(_accepting(_init(i)) for i in node.items[frame[1]:])
    if isinstance(node, Num):
        text = frame[1]
        pattern = r"-?(0|[1-9]\d*)" if node.integer else r"-?(0|[1-9]\d*)(\.\d+)?"
        return re.fullmatch(pattern, text) is not None
    return False


def _num_prefix_ok(node: Num, text: str) -> bool:
    if text.startswith("-") and not node.signed:
        return False
    body = text.removeprefix("-")
    whole, _, frac = body.partition(".")
    if "." in body and (node.integer or not whole):
        return False
    if not re.fullmatch(r"(0|[1-9]\d*)?", whole) or not re.fullmatch(r"\d*", frac):
        return False
    return len(whole) <= node.max_digits and len(frac) <= node.max_frac


def _advance(frame: Frame, c: str) -> tuple[Frame, ...] | None:
    """Consume c inside this frame: the frames that replace it, () when it finished, None if c is refused."""
    node = frame[0]
    if isinstance(node, Lit):
        pos = frame[1]
        if node.text[pos] != c:
            return None
        return () if pos + 1 == len(node.text) else ((node, pos + 1),)
    if isinstance(node, Ws):
        return () if c == " " and not frame[1] else None
    if isinstance(node, Str):
        _, phase, n = frame
        if phase == 0:
            return ((node, 1, 0),) if c == '"' else None
        if c == '"':
            return () if n >= node.min_len else None
        return ((node, 1, n + 1),) if c in STRING_CHARS and n < node.max_len else None
    if isinstance(node, Enum):
        prefix = frame[1] + c
        if prefix in node.options:
            return ()
        return ((node, prefix),) if any(o.startswith(prefix) for o in node.options) else None
    if isinstance(node, Num):
        text = frame[1] + c
        return ((node, text),) if _num_prefix_ok(node, text) else None
    if isinstance(node, Union):
        for option in node.options:
            out = _advance(_init(option), c)
            if out is not None:
                return out
        return None
    if isinstance(node, Arr):
        _, phase, count = frame
        if phase == 0:
            return ((node, 1, 0),) if c == "[" else None
        if c == "]" and phase in (1, 2) and count >= node.min_items:
            return ()
        if phase == 2:
            return ((node, 3, count),) if c == "," and count < node.max_items else None
        if phase == 3 and c == " ":
            return ((node, 4, count),)
        if count >= node.max_items:
            return None
        out = _advance(_init(node.item), c)
        return None if out is None else ((node, 2, count + 1), *out)
    if isinstance(node, Seq):
        for j in range(frame[1], len(node.items)):
            child = _init(node.items[j])
            out = _advance(child, c)
            if out is not None:
                return ((node, j + 1), *out)
            if not _accepting(child):
                return None
        return None
    raise UnsupportedSchema(repr(node))


def feed(stack: Stack, text: str) -> Stack | None:
    """The automaton after reading text, or None if text leaves the language."""
    for c in text:
        while True:
            if not stack:
                return None
            out = _advance(stack[-1], c)
            if out is not None:
                stack = stack[:-1] + out
                break
            if not _accepting(stack[-1]):
                return None
            stack = stack[:-1]  # a finished number or skipped space hands c to its parent
    return stack


def complete(stack: Stack) -> bool:
    return all(_accepting(f) for f in stack)


def start(grammar: Any) -> Stack:
    return (_init(grammar),)


def accepts(grammar: Any, text: str) -> bool:
    stack = feed(start(grammar), text)
    return stack is not None and complete(stack)


# --- vocabulary, model, decoder -------------------------------------------------------------------


@dataclass
class Vocabulary:
    """Every printable ASCII character plus multi-character tokens; EOS is index len(tokens)."""

    tokens: list[str]

    @classmethod
    def for_schema(cls, schema: dict[str, Any]) -> Vocabulary:
        extra = ['{"', '":', '",', '", "', '": "', "true", "false", "null"]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                extra.extend(json.dumps(k) + ":" for k in (node.get("properties") or {}))
                extra.extend(json.dumps(v) for v in node.get("enum", []) if isinstance(v, str))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(schema)
        return cls(list(dict.fromkeys([*PRINTABLE, *extra])))

    @property
    def eos(self) -> int:
        return len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens) + 1


class CopyModel:
    """Logits that copy a draft, keeping a pointer into it the way an induction head keeps its place.

    A token that completes a key (`"age":`) moves the pointer to that key in the draft; a key the
    draft lacks makes the model lost: it stops copying the draft and prefers words of the source
    text, then closing the value. Any other token moves the pointer past itself when the draft has
    it within 3 characters, else re-syncs to the end of the longest (>= 3 chars) suffix of the
    output found in the draft, else to just after the output's last word found in the draft.

    score(v) = 8 + len(v)/2        if the draft continues with v at the pointer (longer tokens win, as in BPE)
             = 8 - 3j              if v starts j in {1..3} characters further on (skipping what the grammar refused)
             + 2                   if v closes a value (" , } ]): models are confident about structure
             + 1 (3 when lost)     if v (3+ chars) occurs in the source text
    """

    def __init__(self, draft: str, source: str = "", seed: int = 0):
        self.draft = draft or ""
        self.source = (source or "").lower()
        self.seed = seed
        self.pointer = 0
        self.seen = ""
        self.lost = False

    def _sync(self, prefix: str) -> None:
        emitted, self.seen = prefix[len(self.seen):], prefix
        if not emitted:
            return
        self.lost = False
        keys = list(re.finditer(r'"([A-Za-z0-9_ -]+)":', prefix))
        if keys and keys[-1].end() > len(prefix) - len(emitted):  # this token finished a key: find it
            at = self.draft.find(keys[-1].group())
            if at < 0:
                self.lost = True  # the grammar forced a key the draft never had
                return
            self.pointer = at + len(keys[-1].group())
            rest = prefix[keys[-1].end():]
            if rest and self.draft.startswith(rest, self.pointer):
                self.pointer += len(rest)
            return
        for j in range(4):
            if self.draft.startswith(emitted, self.pointer + j):
                self.pointer += j + len(emitted)
                return
        for n in range(min(len(prefix), 24), 2, -1):
            at = self.draft.find(prefix[-n:], self.pointer)
            if at >= 0:
                self.pointer = at + n
                return
        words = re.findall(r"[A-Za-z_]{2,}", prefix[-30:])
        at = self.draft.find(words[-1]) if words else -1
        if at >= 0:
            self.pointer = at + len(words[-1])
        else:
            self.lost = True  # the grammar forced text the draft never had (a missing key)

    def logits(self, prefix: str, vocab: Vocabulary) -> np.ndarray:
        self._sync(prefix)
        p = self.pointer
        z = np.random.default_rng(self.seed).normal(0, 0.01, len(vocab))  # breaks ties, like real logits
        for i, t in enumerate(vocab.tokens):
            for j in range(4 if not self.lost else 0):
                if self.draft.startswith(t, p + j):
                    z[i] = max(z[i], 8 + len(t) / 2 if j == 0 else 8 - 3 * j)
                    break
            if t in ('"', ",", "}", "]"):
                z[i] += 2
            if len(t) > 2 and t.strip('"').lower() in self.source:
                z[i] += 3 if self.lost else 1
        z[vocab.eos] = 8.0 if not self.draft[p:].strip() else 0.0
        return z


@dataclass
class Decoded:
    text: str
    value: Any
    tokens: list[str] = field(default_factory=list)
    interventions: int = 0  # steps where the model's favourite token was masked out


def decode(schema: dict[str, Any], model: Any, vocab: Vocabulary | None = None,
           params: SamplingParams = SamplingParams(temperature=0), seed: int = 0) -> Decoded:
    """Generate schema-valid JSON from any object with `.logits(prefix, vocab) -> array over vocab`."""
    grammar = compile_schema(schema)
    vocab = vocab or Vocabulary.for_schema(schema)
    rng = np.random.default_rng(seed)
    stack, text, out, interventions = start(grammar), "", [], 0
    for _ in range(max_chars(grammar) + 1):
        z = np.asarray(model.logits(text, vocab), dtype=np.float64)
        allowed = [i for i, t in enumerate(vocab.tokens) if feed(stack, t) is not None]
        if complete(stack):
            allowed.append(vocab.eos)
        if int(np.argmax(z)) not in allowed:
            interventions += 1
        idx = np.array(allowed)
        choice = int(idx[sample(distribution(z[idx], params), rng)])
        if choice == vocab.eos:
            return Decoded(text, json.loads(text), out, interventions)
        token = vocab.tokens[choice]
        stack = feed(stack, token)
        text += token
        out.append(token)
    raise AssertionError("unreachable: the grammar bounds the output length")  # pragma: no cover


if __name__ == "__main__":
    source = " ".join(sys.argv[1:]) or "Ada Lovelace, 36, engineer, ada@example.com"
    draft = '{"name": "Ada Lovelace", "age": "36", "role": "engineer"'
    result = decode(Person.model_json_schema(), CopyModel(draft, source))
    print(f"draft:  {draft}\noutput: {result.text}\ninterventions: {result.interventions}")
