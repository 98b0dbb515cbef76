"""The chapter's worked exercises, computed by this lab's own code.

    python -m labs.lab07_agents.exercises          # readable
    python -m labs.lab07_agents.exercises --json   # one JSON object {exercise: {inputs..., answer...}}

The ReAct cost cap: step i (0-based) re-sends the whole transcript, so with a fixed prompt of S
tokens, Δ tokens added per step (thought + action + observation) and o output tokens per step,

    input  = Σ_{i<n} (S + iΔ) = nS + Δ n(n-1)/2
    cost   = (input * p_in + n * o * p_out) / 1e6

which grows with n²: the cap a run needs is set from this, not from the cost of its first step.
p_in and p_out (USD per 1M tokens) are the model's list prices in fixtures/prices.json, read
through shared/pricing.py, so a price change there changes the answer here.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from labs.lab07_agents import guards
from labs.lab07_agents.injection import ATTACKS, Defenses
from labs.lab07_agents.suite import attack_success_rate, run_task, task_by_id
from labs.lab07_agents.tools import ToolFaults
from shared.pricing import Price, load_prices, price_for
from shared.resilience import BreakerOpen, CircuitBreaker

RUNTIME = Path(__file__).with_name("runtime.py")
COST_MODEL = "openai/gpt-4o"  # the chapter's worked example prices a GPT-4o-class model


def production_agent() -> dict[str, Any]:
    lines = RUNTIME.read_text().splitlines()
    code = [ln for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    with tempfile.TemporaryDirectory() as tmp:
        r = run_task(task_by_id("book-13"), "tool_loop", Path(tmp))
    return {"file": "labs/lab07_agents/runtime.py", "lines": len(lines), "non_blank_lines": len(code),
            "under_300": len(lines) < 300, "demo_task": "book-13", "demo_status": r["status"],
            "demo_success": r["success"], "demo_steps": r["steps"]}


def circuit_breaker() -> dict[str, Any]:
    t = [0.0]
    b = CircuitBreaker("tool:pay", threshold=3, cooldown_s=30, clock=lambda: t[0])
    log = []

    def attempt(ok: bool, at: float) -> None:
        t[0] = at

        def call():
            if not ok:
                raise ConnectionError("pay is down")
            return "ok"

        try:
            b.call(call)
            log.append(f"t={at:>4}: ok -> {b.state}")
        except BreakerOpen:
            log.append(f"t={at:>4}: rejected fast -> {b.state}")
        except ConnectionError:
            log.append(f"t={at:>4}: failed -> {b.state}")

    for ok, at in [(False, 0), (False, 1), (False, 2), (True, 5), (True, 31), (True, 32)]:
        attempt(ok, at)
    return {"threshold": 3, "cooldown_s": 30, "timeline": log, "transitions": b.transitions}


def loop_detector() -> dict[str, Any]:
    calls = [("search_flights", {"origin": "LON"}), ("hold_flight", {"flight_id": "F002"}),
             ("pay", {"hold_ids": ["HF1"]}), ("pay", {"hold_ids": ["HF1"]}), ("pay", {"hold_ids": ["HF1"]})]
    actions, tripped = [], None
    for i, (tool, args) in enumerate(calls, start=1):
        actions.append(guards.action_key(tool, args))
        if tripped is None and guards.repeated_action(actions, 3):
            tripped = i
    return {"calls": [c[0] for c in calls], "repeat_limit": 3, "stops_at_call": tripped}


def booking_saga() -> dict[str, Any]:
    """`book` is down: the holds and the payment already made are undone, newest first."""
    with tempfile.TemporaryDirectory() as tmp:
        r = run_task(task_by_id("book-13"), "tool_loop", Path(tmp), faults=ToolFaults(error_rate=1.0, only={"book"}))
        world = r["world"]
        net = sum(p["amount"] for p in world.ledger() if not p["id"].startswith("PB"))
        return {"task": "book-13", "fault": "book always fails", "status": r["status"], "reason": r["reason"],
                "compensations": [c["tool"] for c in r["run"].compensated], "net_charge_after": net,
                "violations": world.violations()}


def injection_case() -> dict[str, Any]:
    attack = ATTACKS[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = {name: attack_success_rate(d, Path(tmp) / name, [task_by_id("book-13")], attacks=[attack])["asr"]
               for name, d in (("no_defenses", Defenses.none()), ("all_defenses", Defenses.all()))}
    return {"attack": attack["text"], "planted_in": attack["tool"], "goal": attack["goal"], "succeeded": out}


def react_cost_cap(n: int = 50, S: int = 1500, delta: int = 1000, o: int = 150, model: str = COST_MODEL,
                   cap_usd: float = 1.0, prices: dict[str, Price] | None = None) -> dict[str, Any]:
    price = price_for(model, prices or load_prices())
    p_in, p_out = price.input, price.output
    input_tokens = n * S + delta * n * (n - 1) // 2
    cost = (input_tokens * p_in + n * o * p_out) / 1e6
    spent, stop = 0.0, None
    for i in range(n):
        spent += ((S + i * delta) * p_in + o * p_out) / 1e6
        if stop is None and spent >= cap_usd:
            stop = i + 1
    return {"steps": n, "S": S, "delta": delta, "o": o, "model": model, "prices_from": "fixtures/prices.json",
            "p_in_per_1M": p_in, "p_out_per_1M": p_out,
            "input_tokens": input_tokens, "expected_cost_usd": round(cost, 3),
            "cap_usd": cap_usd, "cap_stops_at_step": stop}


EXERCISES = {"production_agent": production_agent, "circuit_breaker": circuit_breaker,
             "loop_detector": loop_detector, "booking_saga": booking_saga, "injection_case": injection_case,
             "react_cost_cap": react_cost_cap}


def main(argv: list[str]) -> None:
    results = {name: fn() for name, fn in EXERCISES.items()}
    if "--json" in argv:
        print(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        print(f"== {name}")
        for key, value in r.items():
            if isinstance(value, list) and value and isinstance(value[0], str) and len(value) > 3:
                print(f"  {key}:")
                for item in value:
                    print(f"    {item}")
            else:
                print(f"  {key}: {value}")


if __name__ == "__main__":
    main(sys.argv[1:])
