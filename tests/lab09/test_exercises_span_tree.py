"""The agent span-tree exercise: a tree built from the spans of a real tool loop, by their parent ids."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from labs.lab09_gateway.exercises import agent_span_tree, run_tool_loop, span_tree

CHAT, TOOL = "chat mock/assistant", "execute_tool lookup_order"


def recorded(fn):
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    fn(provider.get_tracer("test"))
    return exporter.get_finished_spans()


def test_the_tree_is_a_root_agent_span_with_a_child_per_model_and_tool_call():
    out = agent_span_tree()["answer"]
    tree = out["tree"]
    assert out["roots"] == 1 and tree["name"] == "invoke_agent support-bot"
    assert out["steps"] == [CHAT, TOOL, TOOL, CHAT]  # two orders asked for: two parallel calls, then the answer
    assert all(c["children"] == [] for c in tree["children"])
    chats = [c["attributes"] for c in tree["children"] if c["name"] == CHAT]
    assert [a["gen_ai.response.finish_reasons"] for a in chats] == [["tool_calls"], ["stop"]]
    assert out["total_tokens"] == sum(a["gen_ai.usage.input_tokens"] + a["gen_ai.usage.output_tokens"] for a in chats)
    assert "1234" in out["agent_answer"] and "5678" in out["agent_answer"]


@pytest.mark.parametrize("kwargs, steps, stopped", [
    ({"question": "Where is order 1234?"}, [CHAT, TOOL, CHAT], False),
    ({"parallel": False}, [CHAT, TOOL, CHAT], False),  # one call a turn: this agent answers after the first
    ({"max_steps": 1}, [CHAT, TOOL, TOOL], True),  # the step budget ends the loop before the answer
])
def test_the_tree_changes_when_the_loop_does(kwargs, steps, stopped):
    out = agent_span_tree(**kwargs)["answer"]
    assert out["steps"] == steps
    assert ("lab09.stopped" in out["tree"]["attributes"]) is stopped
    assert (out["agent_answer"] == "") is stopped


def test_the_loop_spans_share_one_trace_and_hang_from_the_agent_span():
    spans = recorded(lambda t: run_tool_loop(t, "Where is order 1234?"))
    root = next(s for s in spans if s.parent is None)
    assert len({s.context.trace_id for s in spans}) == 1
    assert all(s.parent.span_id == root.context.span_id for s in spans if s is not root)
    assert {s.attributes["gen_ai.operation.name"] for s in spans} == {"invoke_agent", "chat", "execute_tool"}


def test_span_tree_nests_by_parent_id_in_start_order_and_keeps_orphans_as_roots():
    def nested(t):
        with t.start_as_current_span("a"):
            with t.start_as_current_span("b"):
                with t.start_as_current_span("c"):
                    pass
            with t.start_as_current_span("d"):
                pass
        with t.start_as_current_span("e"):
            pass

    spans = recorded(nested)  # finished order: c, b, d, a, e (children end before their parents)
    assert [s.name for s in spans] == ["c", "b", "d", "a", "e"]

    def shape(node):
        return (node["name"], [shape(c) for c in node["children"]])

    assert [shape(r) for r in span_tree(spans)] == [("a", [("b", [("c", [])]), ("d", [])]), ("e", [])]
    without_a = [s for s in spans if s.name != "a"]  # b and d lose their parent: each becomes a root
    assert [shape(r) for r in span_tree(without_a)] == [("b", [("c", [])]), ("d", []), ("e", [])]
