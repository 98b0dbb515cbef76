"""The prompts every agent pattern builds on: the system prompt, the tool list, the task message, ReAct's format.

    python -c "from labs.lab07_agents.prompts import ACTION; print(ACTION.pattern)"

patterns.py and tot.py both write their prompts from these, so a change to the agent's instructions
(the spotlighting rule, the lessons Reflexion carries between trials) reaches every pattern at once.
"""

from __future__ import annotations

import json
import re

from labs.lab07_agents.checkpoint import RunState
from labs.lab07_agents.injection import SPOTLIGHT_RULE
from labs.lab07_agents.steps import AgentRuntime
from labs.lab07_agents.tools import TOOLS

SYSTEM = ("You are a travel agent for one customer. Use the tools to do exactly what the task asks, "
          "check every result before the next step, and finish with a short answer.")


def system_prompt(rt: AgentRuntime, st: RunState, extra: str = "") -> str:
    rule = SPOTLIGHT_RULE if rt.defenses.spotlight else ""
    lessons = "\n".join(st.memo.get("lessons", []))
    note = getattr(rt.toolbox, "note", "")  # a toolbox may say which tools are ours (tool_zoo's namespacing)
    return "\n".join(p for p in (SYSTEM, note, extra, rule, lessons and "Lessons from earlier attempts:\n" + lessons)
                     if p)


def tool_list(rt: AgentRuntime, st: RunState) -> str:
    return "\n".join(f"- {t.name}: {t.description} args: {json.dumps(t.args.model_json_schema()['properties'])}"
                     for t in TOOLS.values() if t.name in rt.model_tools(st))


def task_message(st: RunState) -> dict[str, str]:
    return {"role": "user", "content": f"Task: {st.task['text']}"}


ACTION = re.compile(r"Action:\s*(\w+)\s*\nAction Input:\s*(\{.*\})", re.S)
