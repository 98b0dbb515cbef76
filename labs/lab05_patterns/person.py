"""The Person record every structured-output level extracts, and the prompt that describes it.

    python -c "from labs.lab05_patterns.person import Person; print(Person.model_json_schema())"

Its own module because two others need it: `structured.py` asks the model for it at every level,
and `constrained.py` compiles its JSON schema into the grammar the decoder masks tokens with.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field


class Person(BaseModel):
    """The record every level extracts (kept inside the grammar decoder's supported subset)."""

    name: str = Field(max_length=40, description="full name")
    age: int = Field(ge=0, description="age in years")
    role: Literal["engineer", "manager", "analyst", "designer"]
    email: str = Field(max_length=60, description="email address")


SYSTEM = "You extract a person record from the user's text."


def prompt_system() -> str:
    """Level 1 has nothing but words: the schema goes into the system prompt."""
    return f"{SYSTEM} Reply with JSON matching this schema: {json.dumps(Person.model_json_schema())}"
