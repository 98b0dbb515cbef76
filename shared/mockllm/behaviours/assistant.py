"""`assistant`: the general default. Arithmetic, a few facts, summaries, tools, JSON output.

    curl -s localhost:8000/v1/chat/completions -H 'content-type: application/json' \
      -d '{"model": "assistant", "messages": [{"role": "user", "content": "What is 12 * 7?"}]}'

A client that knows nothing about the mock gets sensible answers: it calls a matching tool when
tools are offered, answers from tool results when they come back, returns JSON that satisfies the
requested schema, and otherwise answers plainly. Labs add skills with `register_skill`.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from typing import Any

from shared.mockllm.behaviours.schema_fill import fill
from shared.mockllm.engine import SKILLS, MockRequest, Reply, ToolCallOut, behaviour

FACTS = {
    "capital of france": "Paris",
    "capital of japan": "Tokyo",
    "capital of germany": "Berlin",
    "capital of italy": "Rome",
    "capital of canada": "Ottawa",
    "capital of australia": "Canberra",
    "largest planet": "Jupiter",
    "boiling point of water": "100 °C at sea level",
    "speed of light": "about 299,792 km/s",
    "author of hamlet": "William Shakespeare",
}

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg, ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv}
_EXPR = re.compile(r"[-+*/%().\d\s^x×÷]{3,}")


def safe_eval(expr: str) -> float:
    """Evaluate + - * / % ** and parentheses on numbers only (no names, no calls)."""
    expr = expr.replace("^", "**").replace("×", "*").replace("÷", "/").replace("x", "*")

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ValueError("exponent too large")
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.operand))
        raise ValueError("unsupported expression")

    return walk(ast.parse(expr.strip(), mode="eval"))


def format_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def arithmetic(text: str) -> str | None:
    for match in sorted(_EXPR.findall(text), key=len, reverse=True):
        candidate = match.strip().rstrip("?.").strip()
        if not re.search(r"\d\s*[-+*/%^x×÷]\s*\(?\s*-?\d", candidate):
            continue
        try:
            return format_number(safe_eval(candidate))
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError):
            continue
    return None


def fact(text: str) -> str | None:
    low = text.lower()
    for key, answer in FACTS.items():
        if key in low:
            return answer
    return None


def summarize(text: str, sentences: int = 2) -> str:
    body = text.split(":", 1)[1] if ":" in text[:80] else text
    parts = re.split(r"(?<=[.!?])\s+", body.strip())
    return " ".join(parts[:sentences]).strip()


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def _tool_name(tool: dict[str, Any]) -> str:
    return (tool.get("function") or tool).get("name", "")


def _tool_schema(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function") or tool
    return fn.get("parameters") or fn.get("input_schema") or {"type": "object", "properties": {}}


def pick_tools(req: MockRequest) -> list[dict[str, Any]]:
    """The tools a request calls for: forced by tool_choice, else every tool whose name or description
    shares words with the user's message (several matches: parallel calls)."""
    tools = req.tools
    choice = req.tool_choice
    if choice == "none" or not tools:
        return []
    if isinstance(choice, dict):
        forced = (choice.get("function") or {}).get("name") or choice.get("name")
        return [t for t in tools if _tool_name(t) == forced][:1]
    text = _words(req.last_user())
    scored = []
    for tool in tools:
        fn = tool.get("function") or tool
        name_words = set(re.split(r"[_\W]+", fn.get("name", "").lower()))
        desc_words = _words(fn.get("description", ""))
        score = 2 * len(text & name_words) + len(text & desc_words)
        if score:
            scored.append((score, tool))
    scored.sort(key=lambda s: -s[0])
    if not scored:
        return tools[:1] if choice in ("required", "any") or len(tools) == 1 and choice == "required" else []
    best = scored[0][0]
    # Parallel calls: a clause per tool ("weather in Paris and the FX rate for EUR")
    clauses = re.split(r"\band\b|;|,", req.last_user())
    chosen = [t for s, t in scored if s >= max(1, best // 2)]
    return chosen[: max(1, len(clauses))]


def tool_arguments(tool: dict[str, Any], text: str) -> str:
    args = fill(_tool_schema(tool), text)
    if not isinstance(args, dict):
        args = {}
    expr = arithmetic(text)
    for key, sub in _tool_schema(tool).get("properties", {}).items():
        if key in ("expression", "expr") and sub.get("type") == "string":
            match = _EXPR.search(text)
            args[key] = match.group().strip().rstrip("?.") if match else text
        if expr is not None and key in ("a", "b", "x", "y"):
            break
    return json.dumps(args)


def answer_from_tools(req: MockRequest) -> str:
    results = req.tool_results_since_user()
    parts = []
    for msg in results:
        content = req.text_of(msg)
        try:
            data = json.loads(content)
        except (json.JSONDecodeError, TypeError):
            data = content
        if isinstance(data, dict) and "error" in data:
            parts.append(f"the tool reported an error: {data['error']}")
        elif isinstance(data, dict):
            parts.append(", ".join(f"{k}: {v}" for k, v in data.items()))
        else:
            parts.append(str(data))
    return "Based on the tool results: " + "; ".join(parts) + "."


def json_schema_of(req: MockRequest) -> dict[str, Any] | None:
    rf = req.response_format or {}
    if rf.get("type") == "json_schema":
        return (rf.get("json_schema") or {}).get("schema") or {}
    if rf.get("type") == "json_object":
        return {}
    return None


def plain_answer(req: MockRequest) -> str:
    question = req.last_user()
    result = arithmetic(question)
    if result is not None:
        answer = result
    elif (found := fact(question)) is not None:
        answer = found
    elif re.search(r"\b(summari[sz]e|tl;?dr)\b", question, re.IGNORECASE):
        answer = summarize(question)
    else:
        answer = "I can help with arithmetic, simple facts, summaries, tools and JSON. You asked: " + \
                 question.strip()[:300]
    system = req.system().lower()
    if "one word" in system or "single word" in system:
        answer = answer.split()[0] if answer.split() else answer
    if "uppercase" in system or "upper case" in system:
        answer = answer.upper()
    return answer


@behaviour("assistant", "General assistant: arithmetic, facts, summaries, tool calls, JSON output")
def assistant(req: MockRequest) -> Reply:
    for skill in SKILLS:
        reply = skill.fn(req)
        if reply is not None:
            return reply
    if req.tool_results_since_user():
        return Reply(content=answer_from_tools(req))
    chosen = pick_tools(req)
    if chosen:
        return Reply(tool_calls=[ToolCallOut(name=_tool_name(t), arguments=tool_arguments(t, req.last_user()))
                                 for t in chosen])
    schema = json_schema_of(req)
    if schema is not None:
        value = fill(schema, req.last_user()) if schema else {"answer": plain_answer(req)}
        return Reply(content=json.dumps(value))
    return Reply(content=plain_answer(req))
