"""The official anthropic SDK against /v1/messages: text, tool_use / tool_result, streaming, errors, caching."""

from __future__ import annotations

import anthropic
import pytest

WEATHER = {"name": "get_weather", "description": "Get the current weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_plain_message_with_system_and_usage(anthropic_client):
    msg = anthropic_client.messages.create(model="assistant", max_tokens=100, system="Answer in uppercase.",
                                           messages=[{"role": "user", "content": "What is the capital of Italy?"}])
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.content[0].type == "text" and msg.content[0].text == "ROME"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert msg.usage.cache_read_input_tokens == 0 and msg.usage.cache_creation_input_tokens == 0


def test_tool_use_round_trip(anthropic_client):
    messages = [{"role": "user", "content": "What's the weather like in Nairobi?"}]
    first = anthropic_client.messages.create(model="assistant", max_tokens=200, tools=[WEATHER], messages=messages)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Nairobi"} and use.id.startswith("toolu_")
    messages += [{"role": "assistant", "content": [b.model_dump() for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                               "content": '{"temp_c": 24, "sky": "sunny"}'}]}]
    final = anthropic_client.messages.create(model="assistant", max_tokens=200, tools=[WEATHER], messages=messages)
    assert final.stop_reason == "end_turn"
    assert "24" in final.content[0].text and "sunny" in final.content[0].text


def test_tool_choice_forces_a_tool(anthropic_client):
    msg = anthropic_client.messages.create(model="assistant", max_tokens=100, tools=[WEATHER],
                                           tool_choice={"type": "tool", "name": "get_weather"},
                                           messages=[{"role": "user", "content": "Hello"}])
    assert [b.type for b in msg.content] == ["tool_use"]


def test_streaming_text_events(anthropic_client):
    with anthropic_client.messages.stream(model="assistant", max_tokens=100, messages=[
            {"role": "user", "content": "Summarize: Disks filled. Alerts fired. We paged."}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == "Disks filled. Alerts fired." and len(pieces) > 3
    assert final.stop_reason == "end_turn" and final.usage.output_tokens >= len(pieces)


def test_streaming_tool_input_json_deltas(anthropic_client):
    events = []
    with anthropic_client.messages.stream(model="assistant", max_tokens=100, tools=[WEATHER], messages=[
            {"role": "user", "content": "weather in Lima"}]) as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_message()
    assert events[0] == "message_start" and "content_block_start" in events and "message_stop" in events
    assert "input_json" in events  # the SDK's event for input_json_delta
    assert final.content[0].input == {"city": "Lima"} and final.stop_reason == "tool_use"


def test_errors_use_the_anthropic_shape(anthropic_client):
    with pytest.raises(anthropic.RateLimitError) as info:
        anthropic_client.messages.create(model="assistant", max_tokens=10, messages=[{"role": "user", "content": "x"}],
                                         extra_headers={"x-mock-error-status": "429"})
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.messages.create(model="claude-99", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client.messages.create(model="assistant", max_tokens=10, messages=[])


def test_cache_control_creates_then_reads(anthropic_client):
    manual = "Incident handbook. " + " ".join(f"Rule {i}: escalate class {i} alerts to team {i % 7}." for i in
                                              range(200))
    system = [{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}]
    first = anthropic_client.messages.create(model="assistant", max_tokens=50, system=system,
                                             messages=[{"role": "user", "content": "Rule 3?"}])
    second = anthropic_client.messages.create(model="assistant", max_tokens=50, system=system,
                                              messages=[{"role": "user", "content": "Rule 4?"}])
    written = first.usage.cache_creation_input_tokens
    assert written >= 1024 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == written and second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens < 50  # only the uncached tail is billed at the full rate
    unmarked = anthropic_client.messages.create(model="assistant", max_tokens=50, system=manual,
                                                messages=[{"role": "user", "content": "Rule 5?"}])
    assert unmarked.usage.cache_read_input_tokens == 0  # Anthropic caches only what cache_control marks


def test_count_tokens(anthropic_client):
    counted = anthropic_client.messages.count_tokens(model="assistant", messages=[{"role": "user", "content": "hi"}])
    msg = anthropic_client.messages.create(model="assistant", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert counted.input_tokens == msg.usage.input_tokens
