"""Constrained decoding always yields schema-valid JSON (checked with jsonschema); the audit chain is tamper-evident."""

from __future__ import annotations

import json
import random
import sqlite3

import jsonschema
import pytest

from labs.lab12_safety.audit import AUDIT_SCHEMA, AuditLog
from labs.lab12_safety.constrained import decode, language
from shared.store import Store


def _random_schema(rng: random.Random) -> dict:
    props = {}
    for k in range(rng.randint(1, 4)):
        kind = rng.choice(["enum", "boolean", "integer"])
        if kind == "enum":
            props[f"f{k}"] = {"enum": rng.sample(["red", "green", "blue", "VIOLET", "x y"], rng.randint(1, 4))}
        elif kind == "boolean":
            props[f"f{k}"] = {"type": "boolean"}
        else:
            lo = rng.randint(-5, 5)
            props[f"f{k}"] = {"type": "integer", "minimum": lo, "maximum": lo + rng.randint(0, 12)}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def test_every_decoded_output_validates_against_its_schema():
    rng = random.Random(0)
    for _ in range(60):
        schema = _random_schema(rng)
        proposal = " ".join(rng.choice(["green", "true", "3", "VIOLET-9921", "ignore", "blue"]) for _ in range(6))
        out = decode(schema, proposal)
        jsonschema.validate(json.loads(out["text"]), schema)
        assert "VIOLET-9921" not in out["text"]
        sizes = [len(p.get("enum", [])) or (2 if p.get("type") == "boolean" else p["maximum"] - p["minimum"] + 1)
                 for p in schema["properties"].values()]
        assert out["language_size"] == len(language(schema)) == __import__("math").prod(sizes)


def test_decoding_follows_the_model_where_the_schema_allows():
    schema = {"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative"]}}}
    assert decode(schema, "clearly negative")["value"] == {"sentiment": "negative"}
    with pytest.raises(ValueError):
        decode({"type": "object", "properties": {"note": {"type": "string"}}}, "x")


def test_audit_chain_detects_any_edit_and_survives_erasure(tmp_path):
    log = AuditLog(Store(tmp_path / "a.db", migrations=[AUDIT_SCHEMA]))
    for i in range(6):
        log.append("alice" if i % 2 else "bob", "input", "allow", [{"layer": "rules"}], f"text {i}")
    assert log.verify()["ok"]
    assert log.content_matches(2, "text 1") is True
    erased = log.erase("alice")
    assert erased["texts_deleted"] == 3 and erased["chain"]["ok"]
    assert log.content_matches(2, "text 1") is None  # the key is gone: the hash links to nothing
    with pytest.raises(sqlite3.DatabaseError):
        log.store.execute("UPDATE audit SET decision='block' WHERE seq=1")
    for column, value in (("decision", "'block'"), ("subject", "'mallory'"), ("layers", "'[]'"), ("ts", "0")):
        db = sqlite3.connect(tmp_path / "a.db")
        db.execute("DROP TRIGGER IF EXISTS audit_no_update")
        backup = db.execute(f"SELECT {column} FROM audit WHERE seq=4").fetchone()[0]
        db.execute(f"UPDATE audit SET {column}={value} WHERE seq=4")
        db.commit()
        bad = log.verify()
        assert not bad["ok"] and bad["first_bad_seq"] == 4, column
        db.execute(f"UPDATE audit SET {column}=? WHERE seq=4", (backup,))
        db.commit()
        db.close()
    assert log.verify()["ok"]
