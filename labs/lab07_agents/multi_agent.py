"""Multi-agent: a supervisor routes each part of the task to a specialised agent with a few tools.

    curl -s localhost:8007/runs -H 'content-type: application/json' -d '{"task": "book-13", "pattern": "supervisor"}'
    .venv/bin/python bench/bench_lab07_multi_agent.py      # supervisor vs single agent, same tasks

The supervisor is a model call with no tools: it reads the task and everything done so far and
answers "NEXT: <agent>" or "FINISH: <answer>". The chosen specialist is a tool loop over its own
few tools and its own instructions; it works until its part is done and hands back in text. All
agents share one transcript (every tool call and result), as a supervisor graph does, so a
payments agent can pay for the holds the flights agent made.

For a task of n tool calls handled by h specialists, the supervisor pattern makes about
    (h + 1) supervisor calls + (n + h) specialist calls     against   n + 1 calls for one agent,
but each specialist call carries k of the K tool schemas. Which side wins depends on how the
saved schema tokens (K - k per call) compare with the extra calls, and on whether the single agent
still picks the right tool among K: bench/bench_lab07_multi_agent.py measures both.
"""

from __future__ import annotations

import re
from typing import Any

from labs.lab07_agents.checkpoint import RunState
from labs.lab07_agents.prompts import system_prompt, task_message
from labs.lab07_agents.steps import AgentRuntime, Final

# name -> (what it is for, its tools): the supervisor reads the descriptions and tool names
AGENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "flights": ("Finds flights on a route and date and holds a seat.", ("search_flights", "hold_flight")),
    "hotels": ("Finds hotels in a city and holds a room.", ("search_hotels", "hold_hotel")),
    "payments": ("Charges the customer for holds and confirms them as a booking; refunds and releases holds.",
                 ("pay", "book", "refund", "cancel_hold")),
    "support": ("Reads bookings and travel policies, and cancels bookings.",
                ("get_booking", "get_policy", "cancel_booking")),
}
MAX_HANDOFFS = 12  # a supervisor that keeps bouncing between agents is stopped by this, then by the guards
ROUTE = re.compile(r"^\s*(NEXT|FINISH):\s*(.*)$", re.S | re.M)


def roster(allowed: set[str]) -> str:
    return "\n".join(f"- {name}: {what} Tools: {', '.join(t for t in tools if t in allowed)}"
                     for name, (what, tools) in AGENTS.items())


class Supervisor:
    """Route (one supervisor call), then let the chosen specialist act; hand-backs return to the router."""

    def decide(self, rt: AgentRuntime, st: RunState) -> list[dict[str, Any]] | Final:
        memo = st.memo
        memo.setdefault("shared", [])
        memo.setdefault("handoffs", [])
        allowed = rt.model_tools(st)
        while len(memo["handoffs"]) < MAX_HANDOFFS:
            if memo.get("agent") is None:
                c = rt.chat(st, [{"role": "system", "content": system_prompt(rt, st, (
                    "ROLE: supervisor. You do not use tools; you pick the agent that should act next.\n"
                    "Agents:\n" + roster(allowed) + "\nReply 'NEXT: <agent>' or, when the task is done or "
                    "cannot be done, 'FINISH: <answer for the customer>'."))}, task_message(st), *memo["shared"]],
                    kind="route")
                m = ROUTE.search(c.text or "")
                if m is None or (m[1] == "NEXT" and m[2].strip() not in AGENTS):
                    rt._count(st, "hallucinated")  # an agent that does not exist: ask again (guards bound it)
                    memo["handoffs"].append({"agent": None, "said": (c.text or "")[:200]})
                    continue
                if m[1] == "FINISH":
                    return Final(m[2].strip())
                memo["agent"] = m[2].strip()
            name = memo["agent"]
            what, tools = AGENTS[name]
            system = system_prompt(rt, st, f"ROLE: specialist {name}. {what} Use only your tools; when your part "
                                           "is done, or the next step needs another agent, reply in text with a "
                                           "one-line summary for the supervisor.")
            c = rt.chat(st, [{"role": "system", "content": system}, task_message(st), *memo["shared"]],
                        tools=rt.toolbox.schemas(set(tools) & allowed), kind=f"agent:{name}")
            if c.tool_calls:
                memo["shared"].append(c.message())
                return [{"tool": t.name, "args": t.arguments, "id": t.id} for t in c.tool_calls]
            memo["handoffs"].append({"agent": name, "said": (c.text or "")[:200]})
            memo["shared"].append({"role": "assistant", "content": f"[{name}] {c.text or ''}"})
            memo["agent"] = None
        return Final("I could not complete the task: the agents kept handing it back and forth.")

    def observe(self, rt: AgentRuntime, st: RunState, call: dict[str, Any], result: dict[str, Any]) -> None:
        st.memo["shared"].append({"role": "tool", "tool_call_id": call["id"],
                                  "content": rt.present(st, call["tool"], result)})
