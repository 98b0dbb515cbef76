"""Tools, the dispatch loop, and the two wire protocols (in-process app and LiteLLM over HTTP)."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from labs.lab05_patterns.protocols import side_by_side
from labs.lab05_patterns.tools import TOOLS, UnknownTool, run_tool, select, tool_loop
from shared.config import get_settings
from shared.llm import Model
from shared.mockllm.server import create_app as create_mock_app


@pytest.mark.parametrize("args, expected", [
    ({"value": 5, "from_unit": "km", "to_unit": "miles"}, 5000 / 1609.344),
    ({"value": 100, "from_unit": "celsius", "to_unit": "fahrenheit"}, 212.0),
    ({"value": 0, "from_unit": "K", "to_unit": "C"}, -273.15),
    ({"value": 2, "from_unit": "pounds", "to_unit": "kg"}, 0.90718474),
    ({"value": 12, "from_unit": "in", "to_unit": "ft"}, 1.0),
])
def test_unit_conversion(args, expected):
    assert run_tool("convert_units", args)["result"] == pytest.approx(expected, abs=1e-6)


def test_calculator_evaluates_only_arithmetic():
    assert run_tool("calculator", {"expression": "12 * (3 + 4) - 2 ** 3"})["result"] == 76
    assert run_tool("calculator", {"expression": "__import__('os').system('id')"})["error"]["type"] == "tool_error"
    assert run_tool("calculator", {"expression": "1/0"})["error"]["type"] == "tool_error"


def test_fixture_lookups_and_their_errors():
    assert run_tool("get_weather", {"city": "weather in Tokyo please"})["city"] == "Tokyo"
    assert run_tool("get_fx_rate", {"base": "EUR", "quote": "JPY"})["rate"] == pytest.approx(151.2 / 0.92, rel=1e-6)
    assert run_tool("get_weather", {"city": "Atlantis"})["error"]["type"] == "tool_error"
    assert run_tool("convert_units", {"value": 1, "from_unit": "kg", "to_unit": "km"})["error"]["type"] == "tool_error"


def test_bad_calls_become_structured_errors():
    assert run_tool("get_stock_price", "{}")["error"]["type"] == "unknown_tool"
    assert run_tool("get_weather", '{"city": ')["error"]["type"] == "invalid_arguments"
    bad = run_tool("get_weather", '{"city": 0}')["error"]
    assert bad["type"] == "invalid_arguments" and "city" in bad["message"]


def test_a_request_names_each_tool_once_and_only_known_ones():
    assert [t.name for t in select(["get_weather", "calculator", "get_weather"])] == ["get_weather", "calculator"]
    assert len(select(None)) == len(TOOLS)
    for bad in (["rm_rf"], [], ["get_weather", "nope"]):
        with pytest.raises(UnknownTool):
            select(bad)


def test_schemas_in_both_shapes():
    tool = TOOLS["get_fx_rate"]
    assert tool.openai()["function"]["parameters"] == tool.anthropic()["input_schema"]
    assert set(tool.anthropic()) == {"name", "description", "input_schema"}


async def test_loop_runs_parallel_calls_and_answers(model):
    out = await tool_loop("What is the weather in Paris and the exchange rate from EUR to USD?", model=model)
    assert out["turns"] == 2 and out["steps"][0]["parallel"]
    assert {c["name"] for c in out["steps"][0]["calls"]} == {"get_weather", "get_fx_rate"}
    assert "Paris" in out["answer"] and "1.086957" in out["answer"]
    tool_messages = [m for m in out["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 2 and all(m["tool_call_id"] for m in tool_messages)


async def test_calls_of_one_turn_really_run_at_the_same_time(monkeypatch, model):
    """Each tool waits at a 2-party barrier: run one after the other, the first would time out."""
    barrier = threading.Barrier(2, timeout=5)

    def waiting(tool):
        def fn(args):
            barrier.wait()
            return tool.fn(args)
        return dataclasses.replace(tool, fn=fn)

    monkeypatch.setitem(TOOLS, "get_weather", waiting(TOOLS["get_weather"]))
    monkeypatch.setitem(TOOLS, "get_fx_rate", waiting(TOOLS["get_fx_rate"]))
    out = await tool_loop("What is the weather in Paris and the exchange rate from EUR to USD?", model=model)
    results = [c["result"] for c in out["steps"][0]["calls"]]
    assert all("error" not in r for r in results) and out["steps"][0]["parallel"]


async def test_loop_recovers_from_invalid_arguments(model):
    out = await tool_loop("What is the weather in Paris?", model=model.for_behaviour("fallible"),
                          mock={"fail_rate_tools": 1.0})
    first, second = out["steps"][0]["calls"][0], out["steps"][1]["calls"][0]
    assert first["result"]["error"]["type"] == "invalid_arguments"
    assert second["result"]["city"] == "Paris" and out["answer"] and out["turns"] == 3


async def test_loop_stops_after_max_steps(model):
    out = await tool_loop("What is the weather in Paris?", model=model.for_behaviour("fallible"),
                          mock={"fail_rate_tools": 1.0}, max_steps=1)
    assert out["answer"] is None and "stopped" in out


async def test_wire_shapes_side_by_side(settings):
    out = await side_by_side("What is the weather in Tokyo?", create_mock_app(settings), ["get_weather"])
    assert out["same_answer"] and "Tokyo" in out["openai"]["answer"]
    oa_first = out["openai"]["exchanges"][0]["response"]["body"]["choices"][0]
    an_first = out["anthropic"]["exchanges"][0]["response"]["body"]
    assert oa_first["finish_reason"] == "tool_calls" and an_first["stop_reason"] == "tool_use"
    assert isinstance(oa_first["message"]["tool_calls"][0]["function"]["arguments"], str)
    assert an_first["content"][0] == {"type": "tool_use", "id": an_first["content"][0]["id"], "name": "get_weather",
                                      "input": {"city": "Tokyo"}}
    follow = out["anthropic"]["exchanges"][1]["request"]["body"]["messages"][-1]
    assert follow["role"] == "user" and follow["content"][0]["type"] == "tool_result"
    oa_follow = out["openai"]["exchanges"][1]["request"]["body"]["messages"][-1]
    assert oa_follow["role"] == "tool" and json.loads(oa_follow["content"])["city"] == "Tokyo"


async def test_the_same_loop_through_litellm_on_both_fronts(live_mock, tmp_path):
    """LiteLLM speaks each provider's wire format; the loop code does not change."""
    question = "What is the weather in Paris and the exchange rate from EUR to USD?"
    over_openai = get_settings(data_dir=tmp_path, llm_api_base=f"{live_mock}/v1", llm_api_key="k")
    over_anthropic = get_settings(data_dir=tmp_path, llm_api_base=live_mock, llm_api_key="k")
    openai = await tool_loop(question, model=Model.from_settings(over_openai, "openai/assistant"))
    anthropic = await tool_loop(question, model=Model.from_settings(over_anthropic, "anthropic/assistant"))
    assert openai["answer"] == anthropic["answer"] and "Paris" in anthropic["answer"]
    assert anthropic["steps"][0]["parallel"]
