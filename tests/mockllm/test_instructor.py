"""instructor in TOOLS, JSON, JSON_SCHEMA and MD_JSON modes, first try and after a re-ask."""

from __future__ import annotations

import instructor
import openai
import pytest
from pydantic import BaseModel, Field

from shared import llm

MODES = ["tools", "json", "json_schema", "md_json"]
FAIL_OPTION = {"tools": "fail_rate_tools", "json": "fail_rate_json_mode", "json_schema": "fail_rate_json_schema",
               "md_json": "fail_rate_prompt"}


class Ticket(BaseModel):
    customer: str
    email: str
    priority: str = Field(json_schema_extra={"enum": ["low", "high"]})
    amount: float


TEXT = "Ticket from Alan Turing, email alan@bletchley.uk, priority high: refund of 120.50 for a double charge."
EXPECTED = Ticket(customer="Alan Turing", email="alan@bletchley.uk", priority="high", amount=120.5)


@pytest.mark.parametrize("mode", MODES)
def test_first_attempt_validates(mode):
    result = llm.structured(TEXT, Ticket, mode=mode)
    assert result.value.model_dump() == EXPECTED.model_dump() and result.attempts == 1 and result.errors == []


@pytest.mark.parametrize("mode", MODES)
def test_reask_with_the_validation_error_is_answered_correctly(mode):
    """fallible fails every first attempt here (rate 1.0); instructor re-asks with the error; it fixes it."""
    result = llm.structured(TEXT, Ticket, mode=mode, model="mock/fallible", max_retries=2,
                            mock={FAIL_OPTION[mode]: 1.0})
    assert result.value.model_dump() == EXPECTED.model_dump()
    assert result.attempts == 2 and len(result.errors) == 1
    assert result.usage.input_tokens > 0


@pytest.mark.parametrize("mode", ["tools", "json", "json_schema"])
def test_instructor_over_http_with_the_openai_client(live_mock, mode):
    """Each mode's first attempt fails (rate 1.0 at its level), the re-ask over HTTP is answered correctly."""
    attempts = []
    client = instructor.from_openai(openai.OpenAI(base_url=f"{live_mock}/v1", api_key="mock", max_retries=0),
                                    mode=getattr(instructor.Mode, mode.upper()))
    client.on("completion:response", attempts.append)
    value, completion = client.chat.completions.create_with_completion(
        model="fallible", response_model=Ticket, max_retries=2, messages=[{"role": "user", "content": TEXT}],
        extra_body={"mock": {FAIL_OPTION[mode]: 1.0}})
    assert value.model_dump() == EXPECTED.model_dump()
    assert len(attempts) == 2 and completion.usage.prompt_tokens > 0
