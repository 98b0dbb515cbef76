"""Tree of Thoughts for an agent that acts: propose k next steps, value each, take the best.

    curl -s localhost:8007/runs -H 'content-type: application/json' -d '{"task": "book-13", "pattern": "tot", "wait": true}'

Yao et al. (2023) search a tree of partial solutions: a proposer writes k candidate "thoughts" for
the next step, an evaluator values each state (sure / likely / impossible, which the paper's value
prompt maps to 20 / 1 / 0.001), and a breadth-first search keeps the best b of them. An agent that
books and pays cannot keep several branches of the WORLD alive (a branch that paid cannot be
un-paid for free), so here the breadth lives in thought and the beam in the world is 1:

    every step:  candidates = propose(k)                    1 model call
                 v_i        = value(candidate_i)            k model calls (or a heuristic: none)
                 no v_i "sure"? propose once more           up to `rounds` rounds, new candidates only
                 prune v_i <= 0.001; execute argmax v_i     ties: the proposer's order

When every candidate is pruned the search is at a dead end: the run answers so, and the saga undoes
what it did. Every model call goes through `Runtime.chat` (deadline, retries, the model's breaker,
tokens and cost on the run), and the value calls stop as soon as a budget guard would trip, so a
wide search cannot spend past the run's budget.

The `heuristic` evaluator spends no tokens and catches only what is checkable without a model: an
unknown tool or invalid arguments, a call the defenses forbid, a repeat of a call that already
succeeded, a final answer while side effects are still uncommitted. `breadth=1, evaluator="none"`
is the proposer alone (greedy): the baseline the search is measured against.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from pydantic import ValidationError

from labs.lab07_agents import guards, injection
from labs.lab07_agents.checkpoint import RunState
from labs.lab07_agents.prompts import ACTION, system_prompt, task_message, tool_list
from labs.lab07_agents.steps import AgentRuntime, Final
from labs.lab07_agents.tools import TOOLS

VALUES = {"sure": 20.0, "likely": 1.0, "impossible": 0.001}
PRUNE = VALUES["impossible"]

PROPOSER = ('ROLE: proposer. Propose up to {k} candidate next steps, different from each other, best first. Reply '
            'with JSON {{"candidates": [{{"thought": "...", "tool": "<tool>", "args": {{...}}}}, or {{"thought": '
            '"...", "final": "<answer to the user>"}} when the task is done or cannot be done]}}.\nTools:\n')
EVALUATOR = ("ROLE: evaluator. Judge ONE candidate next step against the task and the results so far. Answer "
             "'Value: sure' (it is what the task needs now), 'Value: likely' (it may help) or 'Value: "
             "impossible' (wrong or premature), then one line saying why.")


def render(cand: dict[str, Any]) -> str:
    """A candidate in the ReAct text the transcript uses."""
    if "final" in cand:
        return f"Thought: {cand.get('thought', '')}\nFinal Answer: {cand['final']}"
    return (f"Thought: {cand.get('thought', '')}\nAction: {cand['tool']}\n"
            f"Action Input: {json.dumps(cand['args'], sort_keys=True)}")


def parse_candidates(text: str, k: int) -> list[dict[str, Any]]:
    """The proposer's candidates, deduplicated, at most k; a single ReAct step is accepted as one candidate."""
    body = re.sub(r"^```(?:json)?\s*|\s*```$", "", (text or "").strip())
    try:
        raw = json.loads(body)["candidates"]
        raw = raw if isinstance(raw, list) else []
    except (json.JSONDecodeError, KeyError, TypeError):
        if m := ACTION.search(text or ""):
            raw = [{"tool": m[1], "args": m[2]}]
        elif "Final Answer:" in (text or ""):
            raw = [{"final": text.split("Final Answer:", 1)[1].strip()}]
        else:
            raw = []
    out, keys = [], set()
    for c in raw:
        if not isinstance(c, dict):
            continue
        if isinstance(c.get("final"), str):
            cand = {"thought": str(c.get("thought", "")), "final": c["final"]}
        elif isinstance(c.get("tool"), str):
            args = c.get("args", {})
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    pass  # left as text: the runtime answers it as invalid arguments
            cand = {"thought": str(c.get("thought", "")), "tool": c["tool"], "args": args}
        else:
            continue
        key = json.dumps(cand.get("final") or [cand.get("tool"), cand.get("args")], sort_keys=True, default=str)
        if key not in keys:
            keys.add(key)
            out.append(cand)
    return out[:k]


def heuristic_value(rt: AgentRuntime, st: RunState, cand: dict[str, Any]) -> float:
    """A value without a model: only what can be checked mechanically."""
    if "final" in cand:
        return PRUNE if st.saga else VALUES["likely"]  # an open saga: held or paid, not yet booked
    tool = TOOLS.get(cand["tool"])
    if tool is None or not isinstance(cand["args"], dict):
        return PRUNE
    try:
        args = tool.args.model_validate(cand["args"]).model_dump()
    except ValidationError:
        return PRUNE
    if injection.blocked(rt.defenses, st.task, tool.name, args) or tool.name not in rt.model_tools(st):
        return PRUNE
    return PRUNE if guards.action_key(tool.name, args) in st.seen else VALUES["likely"]


def over_budget(st: RunState) -> str | None:
    """The budget guards (cost, tokens, wall time) checked inside a step, between its model calls."""
    return guards.check(guards.Budget(**st.budget), steps=0, cost_usd=st.cost_usd, tokens=st.tokens,
                        elapsed_s=time.time() - st.started_at, actions=[], fresh=[])


class TreeOfThoughts:
    """Breadth-limited search over next steps: `breadth` proposals, valued by `evaluator`, best one executed."""

    def __init__(self, breadth: int = 3, evaluator: str = "model", rounds: int = 2):
        if breadth < 1 or rounds < 1 or evaluator not in ("model", "heuristic", "none"):
            raise ValueError("breadth >= 1, rounds >= 1 and evaluator in model | heuristic | none")
        self.breadth, self.evaluator, self.rounds = breadth, evaluator, rounds

    def decide(self, rt: AgentRuntime, st: RunState) -> list[dict[str, Any]] | Final:
        if not st.messages:
            st.messages = [{"role": "system", "content": system_prompt(rt, st)}, task_message(st)]
        candidates: list[dict[str, Any]] = []
        values: list[float] = []
        enough = VALUES["sure"] if self.evaluator == "model" else VALUES["likely"]
        for _ in range(self.rounds):  # a round that finds nothing good enough proposes again (a fresh sample)
            if over_budget(st):
                return []  # no model call past the budget: the runtime's guard check stops the run, with the reason
            fresh = [c for c in self._propose(rt, st) if c not in candidates]
            for cand in fresh:
                if self.evaluator == "model" and over_budget(st):
                    return []
                candidates.append(cand)
                values.append(self._value(rt, st, cand))
            if (values and max(values) >= enough) or self.evaluator == "none":
                break
        if not candidates:  # nothing usable: say so in the transcript, as ReAct does, and let it try again
            rt._count(st, "hallucinated")
            st.messages.append({"role": "user", "content": 'Observation: {"error": {"code": "bad_format", "message": '
                                '"propose candidates as JSON"}}'})
            return []
        best = max(range(len(candidates)), key=lambda i: (values[i], -i))
        st.trajectory.append({"step": st.step, "kind": "search", "chosen": best, "latency_s": 0.0, "cost_usd": 0.0,
                              "candidates": [{**cand, "value": v} for cand, v in zip(candidates, values, strict=True)]})
        if values[best] <= PRUNE:
            return Final("I could not complete the task: every candidate next step was judged impossible.")
        chosen = candidates[best]
        if "final" in chosen:
            return Final(chosen["final"])
        st.messages.append({"role": "assistant", "content": render(chosen)})
        return [{"tool": chosen["tool"], "args": chosen["args"], "thought": chosen["thought"]}]

    def _propose(self, rt: AgentRuntime, st: RunState) -> list[dict[str, Any]]:
        system = system_prompt(rt, st, PROPOSER.format(k=self.breadth) + tool_list(rt, st))
        c = rt.chat(st, [{"role": "system", "content": system}, task_message(st), *st.messages[2:]], kind="propose")
        return parse_candidates(c.text or "", self.breadth)

    def _value(self, rt: AgentRuntime, st: RunState, cand: dict[str, Any]) -> float:
        if self.evaluator == "none":
            return VALUES["likely"]
        if self.evaluator == "heuristic":
            return heuristic_value(rt, st, cand)
        v = rt.chat(st, [{"role": "system", "content": system_prompt(rt, st, EVALUATOR)}, task_message(st), *st.messages[2:],
                         {"role": "user", "content": "Candidate:\n" + render(cand)}], kind="evaluate")
        word = re.search(r"Value:\s*(sure|likely|impossible)", v.text or "", re.I)
        return VALUES[word[1].lower()] if word else VALUES["likely"]

    def observe(self, rt: AgentRuntime, st: RunState, call: dict[str, Any], result: dict[str, Any]) -> None:
        st.messages.append({"role": "user", "content": "Observation: " + rt.present(st, call["tool"], result)})
