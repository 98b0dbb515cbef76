"""Agent patterns as policies over one runtime: what to ask the model, and how to read its answer.

    curl -s localhost:8007/runs -H 'content-type: application/json' -d '{"task": "book-01", "pattern": "rewoo"}'

| pattern       | model calls for an n-step task      | what it trades                                   |
| ------------- | ----------------------------------- | ------------------------------------------------ |
| tool_loop     | n + 1 (native tool calls)           | the baseline                                     |
| react         | n + 1, each with a written thought  | more output tokens for a readable trajectory     |
| plan_execute  | 1 plan + n + 1, re-plan on failure  | more calls; recovers by re-planning              |
| rewoo         | 1 plan + 1 solve, tools run blind   | fewest tokens; a failed step cannot be repaired  |
| reflexion     | tool_loop trials + 1 reflection each| retries the whole task with a lesson             |
| tot           | n + 1 proposals + k values each     | k + 1 calls a step to search past bad first ideas|
| supervisor    | h + 1 routes + n + h specialist     | more calls, each with only its agent's tools     |

Tree of Thoughts lives in tot.py and the supervisor in multi_agent.py (each a module of its own); the prompts in prompts.py. `decide(rt, st)` returns the calls to make ([{"tool", "args", "id", "thought"}]) or `Final(text)`;
`observe(rt, st, call, result)` records a result where this pattern's model will read it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from labs.lab07_agents.checkpoint import RunState
from labs.lab07_agents.multi_agent import Supervisor
from labs.lab07_agents.prompts import ACTION, system_prompt, task_message, tool_list
from labs.lab07_agents.steps import AgentRuntime, Final
from labs.lab07_agents.tot import TreeOfThoughts


class ToolLoop:
    """Native tool calling: the model answers with tool calls until it answers with text."""

    def decide(self, rt: AgentRuntime, st: RunState) -> list[dict[str, Any]] | Final:
        if not st.messages:
            st.messages = [{"role": "system", "content": system_prompt(rt, st)}, task_message(st)]
        c = rt.chat(st, st.messages, tools=rt.toolbox.schemas(rt.model_tools(st)))
        if not c.tool_calls:
            return Final(c.text or "")
        st.messages.append(c.message())
        return [{"tool": t.name, "args": t.arguments, "id": t.id} for t in c.tool_calls]

    def observe(self, rt: AgentRuntime, st: RunState, call: dict[str, Any], result: dict[str, Any]) -> None:
        st.messages.append({"role": "tool", "tool_call_id": call["id"], "content": rt.present(st, call["tool"], result)})



class ReAct:
    """Thought / Action / Action Input in text; results come back as "Observation: ..." messages."""

    def decide(self, rt: AgentRuntime, st: RunState) -> list[dict[str, Any]] | Final:
        if not st.messages:
            fmt = ("Tools:\n" + tool_list(rt, st) + "\nAnswer in this format:\nThought: <reasoning>\nAction: <tool>\n"
                   "Action Input: <JSON arguments>\n... or, when done:\nThought: ...\nFinal Answer: <answer>")
            st.messages = [{"role": "system", "content": system_prompt(rt, st, fmt)}, task_message(st)]
        c = rt.chat(st, st.messages)
        text = c.text or ""
        st.messages.append({"role": "assistant", "content": text})
        if "Final Answer:" in text:
            return Final(text.split("Final Answer:", 1)[1].strip())
        m = ACTION.search(text)
        if m is None:  # an answer in neither format is a hallucinated step: say so, and let it retry
            rt._count(st, "hallucinated")
            st.messages.append({"role": "user", "content": 'Observation: {"error": {"code": "bad_format", '
                                '"message": "use Action/Action Input or Final Answer"}}'})
            return []
        thought = (re.search(r"Thought:\s*(.*)", text) or [None, ""])[1]
        return [{"tool": m[1], "args": m[2], "thought": thought}]

    def observe(self, rt: AgentRuntime, st: RunState, call: dict[str, Any], result: dict[str, Any]) -> None:
        st.messages.append({"role": "user", "content": "Observation: " + rt.present(st, call["tool"], result)})


def _plan(rt: AgentRuntime, st: RunState, done: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ask the planner for the remaining steps (it sees the calls already made, so this is also a re-plan)."""
    messages = [{"role": "system", "content": system_prompt(rt, st, "ROLE: planner. Reply with JSON "
                                                     '{"plan": [{"id": "E1", "tool": ..., "args": {...}}]}; '
                                                     "refer to earlier results as #E1.field.\nTools:\n"
                                                     + tool_list(rt, st))}, task_message(st), *done]
    c = rt.chat(st, messages, kind="plan")
    try:
        plan = json.loads(c.text or "")["plan"]
        return [s for s in plan if isinstance(s, dict) and "tool" in s]
    except (json.JSONDecodeError, KeyError, TypeError):
        rt._count(st, "hallucinated")
        return []


class PlanExecute:
    """A planner writes the steps; an executor model carries out one step at a time; failures re-plan."""

    def decide(self, rt: AgentRuntime, st: RunState) -> list[dict[str, Any]] | Final:
        if st.memo.get("plan") is None:  # first time, or a step failed: (re-)plan
            st.memo["plan"] = _plan(rt, st, st.messages[2:])
            st.memo["replans"] = st.memo.get("replans", -1) + 1
        step = st.memo["plan"][0] if st.memo["plan"] else {"tool": "(none)"}
        system = system_prompt(rt, st, "ROLE: executor. Plan: " + " -> ".join(s["tool"] for s in st.memo["plan"]) +
                         f"\nCarry out the current step: {step['tool']}")
        st.messages = [{"role": "system", "content": system}, task_message(st), *st.messages[2:]]
        c = rt.chat(st, st.messages, tools=rt.toolbox.schemas(rt.model_tools(st)))
        if not c.tool_calls:
            return Final(c.text or "")
        st.messages.append(c.message())
        return [{"tool": t.name, "args": t.arguments, "id": t.id} for t in c.tool_calls]

    def observe(self, rt: AgentRuntime, st: RunState, call: dict[str, Any], result: dict[str, Any]) -> None:
        ToolLoop().observe(rt, st, call, result)
        plan = st.memo.get("plan") or []
        if "error" in result:
            st.memo["plan"] = None  # re-plan from what is done
        elif plan and plan[0]["tool"] == call["tool"]:
            plan.pop(0)


def resolve(value: Any, evidence: dict[str, Any]) -> Any:
    """Replace "#E1.cheapest.flight_id" with that field of step E1's result (ReWOO's variable binding)."""
    if isinstance(value, list):
        return [resolve(v, evidence) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, evidence) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("#E"):
        ref, *path = value[1:].split(".")
        out = evidence.get(ref)
        for part in path:
            out = out.get(part) if isinstance(out, dict) else None
        if out is None:
            raise KeyError(value)
        return out
    return value


class ReWOO:
    """Plan every call up front, run the tools without the model, then one model call writes the answer."""

    def decide(self, rt: AgentRuntime, st: RunState) -> list[dict[str, Any]] | Final:
        memo = st.memo
        if "plan" not in memo:
            memo["plan"], memo["evidence"], memo["cursor"] = _plan(rt, st, []), {}, 0
        failed = any("error" in (e or {}) for e in memo["evidence"].values())
        if memo["cursor"] < len(memo["plan"]) and not failed:
            step = memo["plan"][memo["cursor"]]
            try:
                args = resolve(step.get("args", {}), memo["evidence"])
            except KeyError as exc:
                memo["evidence"][step.get("id", "?")] = {"error": {"code": "unresolved", "message": str(exc)}}
                return []
            return [{"tool": step["tool"], "args": args, "id": step.get("id", "E?")}]
        evidence = "\n".join(f"{k} = {rt.present(st, k, v)}" for k, v in memo["evidence"].items())
        c = rt.chat(st, [{"role": "system", "content": system_prompt(rt, st, "ROLE: solver")}, task_message(st),
                         {"role": "user", "content": "Evidence:\n" + evidence}], kind="solve")
        return Final(c.text or "")

    def observe(self, rt: AgentRuntime, st: RunState, call: dict[str, Any], result: dict[str, Any]) -> None:
        st.memo["evidence"][call["id"]] = result
        st.memo["cursor"] += 1


class Reflexion(ToolLoop):
    """Tool-loop trials; after a failed trial: undo it, write a lesson, and try again (max 3 trials)."""

    max_trials = 3

    def decide(self, rt: AgentRuntime, st: RunState) -> list[dict[str, Any]] | Final:
        out = super().decide(rt, st)
        trial = st.memo.get("trial", 1)
        if isinstance(out, Final) and out.text.startswith("I could not") and trial < self.max_trials:
            rt.compensate(st)
            c = rt.chat(st, [{"role": "system", "content": "ROLE: reflector"}, *st.messages[1:],
                             {"role": "assistant", "content": out.text}], kind="reflect")
            st.memo["lessons"] = [*st.memo.get("lessons", []), c.text or ""]
            st.memo["trial"] = trial + 1
            st.messages = []
            return []
        return out


PATTERNS: dict[str, Any] = {"tool_loop": ToolLoop(), "react": ReAct(), "plan_execute": PlanExecute(),
                            "rewoo": ReWOO(), "reflexion": Reflexion(), "tot": TreeOfThoughts(),
                            "supervisor": Supervisor()}
