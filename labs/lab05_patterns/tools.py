"""Tool use: four tools, a dispatch loop with parallel calls, and tool errors the model can read.

    curl -s localhost:8005/tools/run -H 'content-type: application/json' \
      -d '{"question": "What is the weather in Paris and the exchange rate from EUR to USD?"}'

The loop: send the conversation with the tool schemas; if the reply asks for tools, run every
call of that turn concurrently (asyncio.gather over threads), append one tool message per call,
and ask again; stop when the model answers in text or after `max_steps` turns.

A tool never raises into the loop. Each failure becomes a JSON result the model reads and can
act on: {"error": {"type": "unknown_tool" | "invalid_arguments" | "tool_error", "message": ...}}.
Arguments are validated with the tool's Pydantic model; the tools accept the loose values a model
tends to send (a whole sentence for `city`, "km" or "kilometres") and say precisely what they could
not use. The mock fills arguments crudely, which is exactly the failure mode this guards against.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from shared.arith import BASIC, ArithmeticRefused, evaluate
from shared.config import FIXTURES
from shared.llm import Completion, Model


class ToolFailure(Exception):
    """A tool's own refusal (unknown city, unsupported unit): becomes {"error": {"type": "tool_error"}}."""


@lru_cache(maxsize=1)
def _weather() -> dict[str, dict[str, Any]]:
    return json.loads((FIXTURES / "lab05" / "weather.json").read_text())["cities"]


@lru_cache(maxsize=1)
def _fx() -> dict[str, float]:
    return json.loads((FIXTURES / "lab05" / "fx.json").read_text())["per_usd"]


class CalculatorArgs(BaseModel):
    expression: str = Field(max_length=200, description="arithmetic with + - * / ** and parentheses")


def calculator(args: CalculatorArgs) -> dict[str, Any]:
    """Evaluate numbers and operators only: never eval() a model's string (shared.arith walks the syntax tree)."""
    expr = re.sub(r"[^0-9+\-*/().\s]", " ", args.expression.replace("^", "**").replace("×", "*")).strip()
    try:
        value = evaluate(expr, max_exponent=64, allowed=BASIC)
    except ArithmeticRefused as exc:
        raise ToolFailure(str(exc).replace(repr(expr), repr(args.expression))) from exc
    return {"expression": expr, "result": round(value, 10)}


class UnitArgs(BaseModel):
    value: float
    from_unit: str = Field(max_length=200)
    to_unit: str = Field(max_length=200)


# factor to the base unit of each dimension (m, kg); temperatures are affine and handled apart
_UNITS = {"m": ("length", 1.0), "km": ("length", 1000.0), "cm": ("length", 0.01), "mi": ("length", 1609.344),
          "ft": ("length", 0.3048), "in": ("length", 0.0254), "kg": ("mass", 1.0), "g": ("mass", 0.001),
          "lb": ("mass", 0.45359237), "oz": ("mass", 0.028349523125)}
_ALIASES = {"meter": "m", "metre": "m", "kilometer": "km", "kilometre": "km", "centimeter": "cm",
            "centimetre": "cm", "mile": "mi", "foot": "ft", "feet": "ft", "inch": "in", "kilogram": "kg",
            "gram": "g", "pound": "lb", "ounce": "oz", "celsius": "c", "fahrenheit": "f", "kelvin": "k"}


def _unit(raw: str, skip: str | None = None) -> str:
    words = re.findall(r"[a-z°]+", raw.lower().replace("°", ""))
    found = []
    for w in words:
        w2 = w[:-1] if w.endswith("s") and w[:-1] in _ALIASES else w
        unit = _ALIASES.get(w2) or _ALIASES.get(w2.rstrip("es")) or (w2 if w2 in _UNITS or w2 in "cfk" else None)
        if unit and len(w2) > 0 and (len(w2) > 1 or w2 in ("m", "g", "c", "f", "k")):
            found.append(unit)
    found = [u for u in found if u != skip] or found
    if not found:
        raise ToolFailure(f"no unit I know in {raw!r}; known: {sorted(_UNITS) + ['c', 'f', 'k']}")
    return found[0] if skip is None else found[-1]


def convert_units(args: UnitArgs) -> dict[str, Any]:
    src = _unit(args.from_unit)
    dst = _unit(args.to_unit, skip=src)
    if src in "cfk" and dst in "cfk":
        kelvin = {"c": args.value + 273.15, "f": (args.value - 32) * 5 / 9 + 273.15, "k": args.value}[src]
        out = {"c": kelvin - 273.15, "f": (kelvin - 273.15) * 9 / 5 + 32, "k": kelvin}[dst]
    elif src in _UNITS and dst in _UNITS and _UNITS[src][0] == _UNITS[dst][0]:
        out = args.value * _UNITS[src][1] / _UNITS[dst][1]
    else:
        raise ToolFailure(f"cannot convert {src} to {dst}: different dimensions")
    return {"value": args.value, "from": src, "to": dst, "result": round(out, 6)}


class WeatherArgs(BaseModel):
    city: str = Field(max_length=300)


def get_weather(args: WeatherArgs) -> dict[str, Any]:
    low = args.city.lower()
    for city, obs in _weather().items():
        if city.lower() in low:
            return {"city": city, **obs}
    raise ToolFailure(f"no observation for {args.city[:60]!r}; cities: {', '.join(_weather())}")


class FxArgs(BaseModel):
    base: str = Field(max_length=300)
    quote: str = Field(max_length=300)


def _codes(text: str) -> list[str]:
    return [c for c in re.findall(r"\b[A-Z]{3}\b", text.upper()) if c in _fx()]


def get_fx_rate(args: FxArgs) -> dict[str, Any]:
    base_codes, quote_codes = _codes(args.base), _codes(args.quote)
    if not base_codes:
        raise ToolFailure(f"no currency code in base {args.base[:60]!r}; known: {', '.join(_fx())}")
    base = base_codes[0]
    quote = next((c for c in reversed(quote_codes) if c != base), None)
    if quote is None:
        raise ToolFailure(f"no second currency code in quote {args.quote[:60]!r}")
    rates = _fx()
    return {"base": base, "quote": quote, "rate": round(rates[quote] / rates[base], 6)}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[BaseModel]
    fn: Callable[[Any], dict[str, Any]]

    def openai(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.args.model_json_schema()}}

    def anthropic(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.args.model_json_schema()}


TOOLS = {t.name: t for t in [
    Tool("calculator", "Evaluate an arithmetic expression with the calculator", CalculatorArgs, calculator),
    Tool("convert_units", "Convert a value between units of length, mass or temperature", UnitArgs, convert_units),
    Tool("get_weather", "Current weather observation for a city", WeatherArgs, get_weather),
    Tool("get_fx_rate", "Foreign exchange rate between two currencies", FxArgs, get_fx_rate),
]}


def tool_error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def run_tool(name: str, arguments: str | dict[str, Any]) -> dict[str, Any]:
    """Dispatch one call; every failure comes back as a structured error the model can read."""
    tool = TOOLS.get(name)
    if tool is None:
        return tool_error("unknown_tool", f"no tool named {name!r}; available: {', '.join(TOOLS)}")
    try:
        raw = json.loads(arguments or "{}") if isinstance(arguments, str) else arguments
        args = tool.args.model_validate(raw)
    except json.JSONDecodeError as exc:
        return tool_error("invalid_arguments", f"invalid JSON in arguments: {exc.msg} at {exc.pos}")
    except ValidationError as exc:
        return tool_error("invalid_arguments", "invalid arguments: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    try:
        return tool.fn(args)
    except ToolFailure as exc:
        return tool_error("tool_error", str(exc))


class UnknownTool(ValueError):
    pass


def select(names: list[str] | None) -> list[Tool]:
    """The tools a request names (each once, in order), or all of them when it names none."""
    if names is None:
        return list(TOOLS.values())
    unknown = [n for n in names if n not in TOOLS]
    if unknown or not names:
        raise UnknownTool(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
    return [TOOLS[n] for n in dict.fromkeys(names)]


async def tool_loop(question: str, *, model: Model, tools: list[str] | None = None, max_steps: int = 4,
                    mock: dict[str, Any] | None = None,
                    complete: Callable[..., Awaitable[Completion]] | None = None) -> dict[str, Any]:
    """Ask, run the requested tools in parallel, feed results back, until a text answer.

    `complete` replaces `model.acomplete` (same arguments), e.g. with one wrapped in retries.
    """
    complete = complete or model.acomplete
    chosen = select(tools)
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    steps: list[dict[str, Any]] = []
    for _ in range(max_steps):
        reply = await complete(messages, mock=mock, tools=[t.openai() for t in chosen])
        if not reply.tool_calls:
            return {"answer": reply.text, "steps": steps, "turns": len(steps) + 1, "messages": messages}
        messages.append(reply.message())
        results = await asyncio.gather(*(asyncio.to_thread(run_tool, c.name, c.arguments)
                                         for c in reply.tool_calls))
        for call, result in zip(reply.tool_calls, results, strict=True):
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        steps.append({"calls": [{"name": c.name, "arguments": c.arguments, "result": r}
                                for c, r in zip(reply.tool_calls, results, strict=True)],
                      "parallel": len(reply.tool_calls) > 1})
    return {"answer": None, "steps": steps, "turns": len(steps), "messages": messages,
            "stopped": f"no text answer after {max_steps} tool turns"}
