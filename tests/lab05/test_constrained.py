"""The grammar-constrained decoder: schema-valid output by construction, whatever the logits say."""

from __future__ import annotations

import json
from typing import Literal

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from labs.lab05_patterns.constrained import (
    CopyModel,
    UnsupportedSchema,
    Vocabulary,
    accepts,
    compile_schema,
    decode,
    max_chars,
)
from labs.lab05_patterns.person import Person
from labs.lab05_patterns.sampling import SamplingParams


class RandomModel:
    """Logits with no idea of JSON at all: the mask alone must produce a valid record."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def logits(self, prefix: str, vocab: Vocabulary) -> np.ndarray:
        return self.rng.normal(0, 3, len(vocab))


class Address(BaseModel):
    city: str = Field(max_length=12)
    zip_code: int | None = None


class Order(BaseModel):
    id: int = Field(ge=0)
    price: float
    paid: bool
    tags: list[Literal["new", "gift", "bulk"]] = Field(max_length=3)
    note: str | None = Field(None, max_length=10)
    ship_to: Address
    lines: list[int] = Field(min_length=1, max_length=3)


SCHEMAS = [Person.model_json_schema(), Order.model_json_schema(), Address.model_json_schema()]

_LEAVES = st.one_of(
    st.builds(lambda n: {"type": "string", "maxLength": n}, st.integers(0, 12)),
    st.just({"type": "integer"}), st.just({"type": "integer", "minimum": 0}), st.just({"type": "number"}),
    st.just({"type": "boolean"}), st.just({"type": "null"}),
    st.lists(st.text("abcxyz", min_size=1, max_size=5), min_size=1, max_size=4, unique=True).map(
        lambda opts: {"type": "string", "enum": opts}),
)


def _extend(children):
    keys = st.text("abcdefgh_", min_size=1, max_size=6)
    objects = st.dictionaries(keys, children, min_size=0, max_size=4).map(
        lambda props: {"type": "object", "properties": props, "required": list(props)})
    arrays = st.builds(lambda item, lo, extra: {"type": "array", "items": item, "minItems": lo, "maxItems": lo + extra},
                       children, st.integers(0, 2), st.integers(0, 2))
    optional = children.filter(lambda c: c.get("type") not in ("null",) and "anyOf" not in c).map(
        lambda c: {"anyOf": [c, {"type": "null"}]})
    return st.one_of(objects, arrays, optional)


RANDOM_SCHEMAS = st.recursive(_LEAVES, _extend, max_leaves=8).map(
    lambda s: s if s.get("type") == "object" else {"type": "object", "properties": {"v": s}, "required": ["v"]})


@settings(max_examples=60, deadline=None)
@given(RANDOM_SCHEMAS, st.integers(0, 2**32 - 1))
def test_random_schemas_and_random_logits_give_valid_json(schema, seed):
    out = decode(schema, RandomModel(seed), params=SamplingParams(temperature=1.0), seed=seed)
    _valid(schema, out.text)


def _valid(schema: dict, text: str) -> None:
    value = json.loads(text)
    jsonschema.validate(value, schema)
    assert accepts(compile_schema(schema), text)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(len(SCHEMAS))), st.integers(0, 2**32 - 1),
       st.floats(0.05, 3.0), st.booleans())
def test_random_logits_always_give_schema_valid_json(which, seed, temperature, greedy):
    schema = SCHEMAS[which]
    params = SamplingParams(temperature=0 if greedy else temperature)
    out = decode(schema, RandomModel(seed), params=params, seed=seed)
    _valid(schema, out.text)
    assert len(out.text) <= max_chars(compile_schema(schema))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=120), st.integers(0, 1000))
def test_arbitrary_drafts_always_give_schema_valid_json(draft, seed):
    out = decode(Order.model_json_schema(), CopyModel(draft, seed=seed))
    _valid(Order.model_json_schema(), out.text)
    Order.model_validate_json(out.text)


def test_a_valid_draft_is_reproduced_exactly():
    draft = '{"name": "Ada Lovelace", "age": 36, "role": "engineer", "email": "ada@example.com"}'
    out = decode(Person.model_json_schema(), CopyModel(draft))
    assert out.text == draft and out.interventions == 0


def test_broken_draft_is_repaired_where_the_grammar_forbids_it():
    draft = 'Sure! {"name": "Ada Lovelace", "age": "36", "role": "engineer", "email": "ada@example.com",}'
    out = decode(Person.model_json_schema(), CopyModel(draft))
    assert Person.model_validate_json(out.text).model_dump() == {
        "name": "Ada Lovelace", "age": 36, "role": "engineer", "email": "ada@example.com"}
    assert out.interventions > 0


@settings(max_examples=80, deadline=None)
@given(st.builds(Order, id=st.integers(0, 10**6), price=st.floats(0, 9999, allow_nan=False).map(lambda x: round(x, 2)),
                 paid=st.booleans(), tags=st.lists(st.sampled_from(["new", "gift", "bulk"]), max_size=3),
                 note=st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126,
                                                        blacklist_characters='"\\'), max_size=10),
                 ship_to=st.builds(Address, city=st.sampled_from(["Paris", "Oslo"]), zip_code=st.none() | st.integers(0, 99999)),
                 lines=st.lists(st.integers(-99, 99), min_size=1, max_size=3)),
       st.sampled_from([(", ", ": "), (",", ":")]))
def test_automaton_accepts_every_valid_instance(order, separators):
    text = json.dumps(order.model_dump(), separators=separators)
    assert accepts(compile_schema(Order.model_json_schema()), text)


@pytest.mark.parametrize("text", [
    '{"name": "Ada", "age": 36, "role": "engineer"}',  # missing key
    '{"name": "Ada", "age": "36", "role": "engineer", "email": "a"}',  # wrong type
    '{"name": "Ada", "age": 36, "role": "boss", "email": "a"}',  # not in the enum
    '{"name": "Ada", "age": -3, "role": "engineer", "email": "a"}',  # minimum 0
    '{"name": "Ada", "age": 036, "role": "engineer", "email": "a"}',  # leading zero is not JSON
    '{"name": "Ada", "age": 36, "role": "engineer", "email": "a"} ',  # trailing text
])
def test_automaton_rejects_invalid_text(text):
    assert not accepts(compile_schema(Person.model_json_schema()), text)


def test_multi_character_tokens_are_masked_by_all_their_characters():
    vocab = Vocabulary.for_schema(Person.model_json_schema())
    assert '"email":' in vocab.tokens and '"role":' in vocab.tokens
    out = decode(Person.model_json_schema(), CopyModel('{"name": "A", "email": "x", "age": 1}'))
    assert list(json.loads(out.text)) == ["name", "age", "role", "email"]


@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": "^a+$"},
    {"type": "integer", "maximum": 5},
    {"type": "string", "format": "email"},
    {"type": "string", "maxLength": 10_000},
    {"anyOf": [{"type": "integer"}, {"type": "number"}]},
    {"enum": [1, 12]},
])
def test_unenforceable_schemas_are_refused(schema):
    with pytest.raises(UnsupportedSchema):
        compile_schema(schema)
