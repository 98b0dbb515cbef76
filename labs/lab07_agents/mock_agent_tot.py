"""`agent_tot`: lab-07's travel agent with the two extra roles Tree-of-Thoughts needs (a mock behaviour).

Part of lab-07's mock plugin (`mock_plugin.py`): importing this module registers `mock/agent_tot` with
the in-process mock; a separate server gets it with `--load labs.lab07_agents.mock_plugin:install`.

    python -c "import labs.lab07_agents.mock_plugin; from shared import llm; print(llm.complete([{'role': 'system', 'content': 'ROLE: proposer. \
Propose up to 3 candidate next steps.'}, {'role': 'user', 'content': 'Task: Look up the pets policy.'}], \
model='mock/agent_tot').text)"

- "ROLE: proposer": up to k candidate next steps as JSON {"candidates": [{"thought", "tool", "args"} |
  {"thought", "final"}]} (k read from "up to k candidate" in the system prompt). Like a sampled
  model, it is an unreliable generator: slot by slot, each holds the right step (the one `agent`
  would take) with probability `p` (default 0.6), so the right step comes first w.p. p and is
  missing from all k w.p. (1 - p)^k (0.4 for k = 1, 0.064 for k = 3); the other slots hold the
  plausible mistakes a model makes here: the other flight or hotel in the results, the wrong date,
  paying for only one of two holds, finishing before the booking exists, cancelling without
  checking whose booking it is, the wrong policy topic, doing the last call again.
- "ROLE: evaluator": judges ONE candidate (the last user message, "Candidate: Action: ... /
  Action Input: ..." or "Candidate: Final Answer: ...") against the task and the results so far,
  with ToT's value words: "Value: sure" (it is the step the task needs now), "likely" (the right
  tool, other arguments), "impossible" (anything else). Checking a step is easier than choosing
  it, which is what makes the search pay.
- every other request is answered exactly as `agent` answers it.

Earlier steps are read from ReAct-style text ("Action: / Action Input:" then "Observation: ...").
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

from labs.lab07_agents import mock_agent as agent
from shared.mockllm.engine import MockRequest, Reply, behaviour

Step = tuple[str, dict[str, Any]] | str  # (tool, args) or a final answer


def _alternatives(intent: agent.Intent, obs: list[agent.Obs], right: Step) -> list[Step]:
    """Plausible wrong next steps for this point of the task, most tempting first."""
    if isinstance(right, str):  # done: the tempting mistake is one more call
        return [(obs[-1].tool, obs[-1].args)] if obs else []
    tool, args = right
    out: list[Step] = []
    if tool in ("hold_flight", "hold_hotel"):
        kind = tool.split("_")[1]
        search = next((o for o in reversed(obs) if o.tool == f"search_{kind}s" and o.error is None), None)
        items = (search.result.get(f"{kind}s") or []) if search and isinstance(search.result, dict) else []
        out += [(tool, {**args, f"{kind}_id": i[f"{kind}_id"]}) for i in items if i[f"{kind}_id"] != args[f"{kind}_id"]]
    elif tool == "search_flights":
        out.append((tool, {**args, "date": (date.fromisoformat(args["date"]) + timedelta(days=1)).isoformat()}))
    elif tool == "search_hotels":
        out.append((tool, {**args, "nights": args["nights"] + 1}))
    elif tool == "pay" and len(args["hold_ids"]) > 1:
        out.append((tool, {**args, "hold_ids": args["hold_ids"][:1]}))
    elif tool == "get_booking":
        out.append(("cancel_booking", {"booking_id": args["booking_id"]}))
    elif tool == "get_policy":
        out += [(tool, {"topic": t}) for t in ("refund", "cancellation") if t != args["topic"]]
    if tool in ("pay", "book", "cancel_booking"):
        out.append("Done: everything the task asked for is taken care of.")
    return out


def _as_json(step: Step, thought: str) -> dict[str, Any]:
    if isinstance(step, str):
        return {"thought": thought, "final": step}
    return {"thought": thought, "tool": step[0], "args": step[1]}


def propose(req: MockRequest) -> Reply:
    intent, obs = agent.parse_task(agent.task_text(req)), agent.observations(req)
    k = int((re.search(r"up to (\d+) candidate", req.system()) or [None, "3"])[1])
    right = agent.next_step(intent, obs)
    others = _alternatives(intent, obs, right)
    rng, p = req.rng("sample-propose"), float(req.opt("p", 0.6))
    at = next((i for i in range(k) if not others or rng.random() < p), None)  # slot i is the right one w.p. p
    steps = others[:k] if at is None else [*others[:at], right, *others[at:k - 1]]
    thoughts = [agent.THOUGHTS.get(s[0], "Another way forward.") if not isinstance(s, str)
                else "That should be everything." for s in steps]
    return Reply(content=json.dumps({"candidates": [_as_json(s, t) for s, t in zip(steps, thoughts, strict=True)]}))


def _candidate(text: str) -> Step | None:
    if m := re.search(r"Final Answer:\s*(.*)", text, re.S):
        return m.group(1).strip()
    if m := re.search(r"Action:\s*(\w+)\s*\nAction Input:\s*(\{.*\})", text, re.S):
        try:
            return m.group(1), json.loads(m.group(2))
        except json.JSONDecodeError:
            return None
    return None


def evaluate(req: MockRequest) -> Reply:
    intent, obs = agent.parse_task(agent.task_text(req)), agent.observations(req)
    right, cand = agent.next_step(intent, obs), _candidate(req.last_user())
    if cand is None:
        return Reply(content="Value: impossible\nI cannot read the candidate step.")
    if isinstance(right, str) and isinstance(cand, str):
        return Reply(content="Value: sure\nThe results so far answer the task; finishing is right.")
    if isinstance(right, str) or isinstance(cand, str):
        why = "the task is already done" if isinstance(right, str) else "the task is not done yet"
        return Reply(content=f"Value: impossible\nThis does not fit: {why}.")
    if cand == right:
        return Reply(content="Value: sure\nThis is exactly what the task needs next.")
    if cand[0] == right[0]:
        return Reply(content="Value: likely\nThe right tool, but the arguments do not match what the task asks.")
    return Reply(content=f"Value: impossible\n{cand[0]} is not the step the task needs now.")


@behaviour("agent_tot", "lab-07's travel agent plus Tree-of-Thoughts roles: a proposer of k candidate next steps "
                        "(right first with probability p) and an evaluator answering sure/likely/impossible")
def agent_tot(req: MockRequest) -> Reply:
    role = agent._role(req)
    if role == "proposer":
        return propose(req)
    if role == "evaluator":
        return evaluate(req)
    return agent.decide(req)
