"""`assistant`: the general default. Arithmetic, a few facts, summaries, tools, JSON output.

    curl -s localhost:8000/v1/chat/completions -H 'content-type: application/json' \
      -d '{"model": "assistant", "messages": [{"role": "user", "content": "What is 12 * 7?"}]}'

A client that knows nothing about the mock gets sensible answers. In order:
1. a lab's registered skill, if one claims the request (`register_skill`);
2. a re-ask (the last message is a validation error about its previous output): redo it right;
3. tool results since the user's message: answer from them (or retry the calls they reject);
4. tools offered and the request matches some (or `tool_choice` forces one): call them, one call
   per clause of the request ("weather in Paris and in Tokyo" -> two parallel calls), arguments
   read from the text by the tool's JSON schema (schema_fill.py);
5. JSON asked for (response_format, or a schema / "JSON" in the prompt): JSON that fits;
6. otherwise a plain answer: arithmetic, facts, summaries, the system prompt's format rules.

At an explicit temperature > 0 the wording varies with the seed (the answer does not); with the
temperature unset the answer is canonical, so examples read the same on every run. `fallible` is
the same model with the structured-output failure rates of structured.py switched on.
"""

from __future__ import annotations

import json
import re
from typing import Any

import shared.mockllm.behaviours.structured as structured
from shared.arith import evaluate
from shared.mockllm.behaviours.schema_fill import fill, resolve
from shared.mockllm.request import SKILLS, MockRequest, Reply, ToolCallOut, behaviour

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

_JSON_WORD = re.compile(r"\bjson\b", re.IGNORECASE)
_EXPR = re.compile(r"[-+*/%().\d\s^x×÷]{3,}")
_BINARY = re.compile(r"\d\s*[-+*/%^x×÷]\s*\(?\s*-?\d")  # an operator between two numbers
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")  # 1,234 -> 1234
_WORD_OP = re.compile(r"\b(multiplied by|times|divided by|plus|minus)\b", re.I)
_WORD_SYMBOL = {"multiplied by": "*", "times": "*", "divided by": "/", "plus": "+", "minus": "-"}
_OPERATORS = "-+*/%^x×÷"  # the operator characters _BINARY looks for


def word_ops(text: str) -> str:
    """Operator words as symbols, "6 times 7" -> "6 * 7": one pass, none when no such word is there."""
    low = text.lower()
    if not any(word in low for word in ("times", "multiplied", "divided", "plus", "minus")):
        return text
    return _WORD_OP.sub(lambda m: _WORD_SYMBOL[" ".join(m.group(1).lower().split())], text)


def safe_eval(expr: str) -> float:
    """Evaluate + - * / % ** and parentheses on numbers only (no names, no calls); x, × and ÷ as operators."""
    return evaluate(expr.replace("^", "**").replace("×", "*").replace("÷", "/").replace("x", "*"))


def format_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def arithmetic(text: str) -> str | None:
    """The value of the arithmetic expression in a question ("What is 6 times 7?" -> "42"), or None."""
    text = word_ops(text)
    text = _THOUSANDS.sub("", text) if "," in text else text
    # a text with no operator character cannot match _BINARY: eight substring tests (C speed) spare
    # the regex's scan of a long prompt (~30 us for 2 KB; a summary or RAG prompt rarely holds one)
    if not any(op in text for op in _OPERATORS) or not _BINARY.search(text):  # no operator between two numbers anywhere: no candidate can hold one
        return None
    for match in sorted(_EXPR.findall(text), key=len, reverse=True):
        candidate = match.strip().rstrip("?.").strip()
        if not _BINARY.search(candidate):
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


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def summarize(text: str, sentences: int = 2) -> str:
    body = text.split(":", 1)[1] if ":" in text[:80] else text
    parts = _SENTENCE_END.split(body.strip(), maxsplit=sentences)  # only the first ones are kept
    return " ".join(parts[:sentences]).strip()


_STOP = {"the", "and", "for", "with", "what", "how", "please", "can", "you", "get", "from", "into", "this",
         "that", "are", "is", "of", "to", "in", "a", "an", "me", "my", "current", "given", "returns", "return"}
_MATHY = {"calc", "calcu", "math", "arith", "expre", "evalu", "compu"}


def _stems(text: str) -> set[str]:
    """Word stems (first five letters) of the meaningful words: "converts" and "convert" agree."""
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2 and w not in _STOP}


def _tool_name(tool: dict[str, Any]) -> str:
    return (tool.get("function") or tool).get("name", "")


def _tool_schema(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function") or tool
    return fn.get("parameters") or fn.get("input_schema") or {"type": "object", "properties": {}}


def tool_score(tool: dict[str, Any], text: str) -> int:
    """How well a tool fits a request: shared stems, the name's counting double; arithmetic wants a calculator."""
    fn = tool.get("function") or tool
    name, words = _stems(fn.get("name", "").replace("_", " ")), _stems(text)
    score = 2 * len(words & name) + len(words & _stems(fn.get("description", "")))
    if arithmetic(text) is not None and (name | _stems(fn.get("description", ""))) & _MATHY:
        score += 3
    return score


def _forced(req: MockRequest) -> str | None:
    choice = req.tool_choice
    if isinstance(choice, dict):
        return (choice.get("function") or {}).get("name") or choice.get("name")
    return None


def plan_calls(req: MockRequest, text: str) -> list[tuple[dict[str, Any], str]]:
    """(tool, the text its arguments come from) for each call this request needs.

    One call per clause that names a tool's job; a clause that only names another entity ("... and
    in Tokyo") repeats the previous clause's tool, which is how parallel calls of one tool arise.
    """
    tools, choice = req.tools, req.tool_choice
    if choice == "none" or not tools:
        return []
    if (name := _forced(req)) is not None:
        return [(t, text) for t in tools if _tool_name(t) == name][:1]
    calls: list[tuple[dict[str, Any], str]] = []
    previous = None
    clauses = [c for c in re.split(r"\band\b|;|\bthen\b|\balso\b", text) if c.strip()]
    for clause in clauses if len(clauses) > 1 else []:
        best = max(tools, key=lambda t: tool_score(t, clause))
        if tool_score(best, clause) > 0:
            previous = best
            calls.append((best, f"{clause}\n{text}"))
        elif previous is not None and re.search(r"\b[A-Z]|\d", clause):
            calls.append((previous, f"{clause}\n{text}"))
    if not calls:
        best = max(tools, key=lambda t: tool_score(t, text))
        if tool_score(best, text) > 0 or choice in ("required", "any"):
            calls = [(best, text)]
    if not req.parallel_tool_calls:
        calls = calls[:1]
    return calls


def tool_arguments(tool: dict[str, Any], text: str) -> str:
    schema = _tool_schema(tool)
    args = fill(schema, text)
    if not isinstance(args, dict):
        args = {}
    for key, sub in schema.get("properties", {}).items():
        if key in ("expression", "expr") and sub.get("type") == "string":
            text = word_ops(text)
            match = max(_EXPR.findall(text.split("\n")[0]) or _EXPR.findall(text) or [text], key=len)
            args[key] = match.strip().rstrip("?.").strip()
    return json.dumps(args)


def tool_calls(req: MockRequest, text: str, fail_rates: dict[str, float]) -> list[ToolCallOut]:
    out = []
    for tool, source in plan_calls(req, text):
        arguments = tool_arguments(tool, source)
        rng = structured.fails(req, "tools", fail_rates)
        if rng is not None:
            arguments = structured.break_value(json.loads(arguments), _tool_schema(tool), "tools", rng)
        out.append(ToolCallOut(name=_tool_name(tool), arguments=arguments))
    return out


def answer_from_tools(req: MockRequest) -> str:
    results = req.tool_results_since_user()
    useful = [m for m in results if not structured.is_correction(req.text_of(m))]
    results = useful or results  # rejected calls that were retried are not part of the answer
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


GIVE_UP_AFTER = 3  # rejected rounds in a row, after which the model reports the errors instead of retrying


def _rejected_rounds(req: MockRequest) -> int:
    """How many rounds in a row, counting back from the last, the tools (or a validator) rejected every
    call of this model: 0 when the last round brought real results."""
    rounds, current = 0, []
    for message in reversed(req.messages):
        role = message.get("role")
        if role == "tool":
            current.append(message)
        elif role == "assistant" and current and all(structured.is_correction(req.text_of(m)) for m in current):
            rounds, current = rounds + 1, []
        else:
            break
    return rounds


def json_schema_of(req: MockRequest, text: str | None = None) -> dict[str, Any] | None:
    """The schema JSON must satisfy ({} for any JSON object), or None when no JSON was asked for.
    `text` is the task text when the caller has it already."""
    rf = req.response_format or {}
    if rf.get("type") == "json_schema":
        return (rf.get("json_schema") or {}).get("schema") or {}
    prompt = req.system() + "\n" + (structured.task_text(req) if text is None else text)
    # the substring test first: a case-insensitive regex scans a long prompt several times slower
    if rf.get("type") == "json_object" or ("json" in prompt.lower() and _JSON_WORD.search(prompt)):
        return structured.embedded_schema(req.system()) or structured.embedded_schema(prompt) or {}
    return None


def json_reply(req: MockRequest, schema: dict[str, Any], fail_rates: dict[str, float]) -> Reply:
    text = structured.task_text(req)
    shaped = bool(resolve(schema, schema).get("properties"))  # the root may be a $ref (recursive models)
    value = fill(schema, text) if shaped else {"answer": plain_answer(req, text)}
    level = structured.level_of(req, via_tool=False)
    rng = structured.fails(req, level, fail_rates)
    raw = structured.break_value(value, schema, level, rng) if rng is not None else json.dumps(value)
    if "```json" in req.transcript():
        raw = f"```json\n{raw}\n```"
    return Reply(content=raw)


PHRASINGS = {"arithmetic": ["{answer}", "The answer is {answer}.", "{answer} (computed directly)",
                            "That comes to {answer}."],
             "fact": ["{answer}", "{answer}.", "The answer is {answer}.", "It is {answer}."]}


def plain_answer(req: MockRequest, question: str | None = None) -> str:
    question = req.last_user() if question is None else question
    result = arithmetic(question)
    kind = "arithmetic" if result is not None else None
    if result is not None:
        answer = result
    elif (found := fact(question)) is not None:
        answer, kind = found, "fact"
    elif re.search(r"\b(summari[sz]e|tl;?dr)\b", question, re.IGNORECASE):
        answer = summarize(question)
    else:
        answer = "I can help with arithmetic, simple facts, summaries, tools and JSON. You asked: " + \
                 question.strip()[:300]
    if kind and req.sampling():
        answer = req.rng("sample:phrasing").choice(PHRASINGS[kind]).format(answer=answer)
    system = req.system().lower()
    if "one word" in system or "single word" in system:
        answer = answer.split()[0] if answer.split() else answer
    if "uppercase" in system or "upper case" in system:
        answer = answer.upper()
    return answer


def respond(req: MockRequest, fail_rates: dict[str, float]) -> Reply:
    """The assistant's decision procedure (see the module docstring), with structured failure rates."""
    for skill in SKILLS:
        reply = skill.fn(req)
        if reply is not None:
            return reply
    text = structured.task_text(req)
    rejected = _rejected_rounds(req)
    if req.tool_results_since_user() and not (0 < rejected < GIVE_UP_AFTER and req.tools):
        return Reply(content=answer_from_tools(req))
    calls = tool_calls(req, text, fail_rates)
    if calls:
        return Reply(tool_calls=calls)
    schema = json_schema_of(req, text)
    if schema is not None:
        return json_reply(req, schema, fail_rates)
    return Reply(content=plain_answer(req, text))


@behaviour("assistant", "General assistant: arithmetic, facts, summaries, tool calls, JSON output")
def assistant(req: MockRequest) -> Reply:
    return respond(req, {})


@behaviour("fallible", "The assistant with realistic structured-output failure rates: prompt 30% > JSON mode "
                       "12% > tools 4% > json_schema 2% > strict 0% (options fail_rate_*); re-asks succeed")
def fallible(req: MockRequest) -> Reply:
    return respond(req, structured.REALISTIC_FAIL_RATES)
