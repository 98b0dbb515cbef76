"""Real clients pointed at the live mock server (`live_mock`, from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def openai_client(live_mock):
    import openai

    return openai.OpenAI(base_url=f"{live_mock}/v1", api_key="mock", max_retries=0)


@pytest.fixture
def async_openai_client(live_mock):
    import openai

    return openai.AsyncOpenAI(base_url=f"{live_mock}/v1", api_key="mock", max_retries=0)


@pytest.fixture
def anthropic_client(live_mock):
    import anthropic

    return anthropic.Anthropic(base_url=live_mock, api_key="mock", max_retries=0)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                   "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}
FX = {"type": "function", "function": {
    "name": "convert_currency", "description": "Convert an amount of money from one currency to another",
    "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "from_currency": {"type": "string"},
                                                   "to_currency": {"type": "string"}},
                   "required": ["amount", "from_currency", "to_currency"]}}}
