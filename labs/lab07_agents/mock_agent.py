"""`agent`: a deterministic tool-using planner for lab-07's travel world (flights, hotels, payments).

A mock behaviour that belongs to this lab, not to the shared engine: part of lab-07's mock plugin
(`mock_plugin.py`). Importing this module registers `mock/agent` with the in-process mock; a separate
server (`make mock`, `make up`, docker-compose) loads it with `--load labs.lab07_agents.mock_plugin:install`.

    curl -s localhost:8000/v1/chat/completions -H 'content-type: application/json' -d '{"model": "agent",
      "messages": [{"role": "user", "content": "Task: Look up the baggage policy."}],
      "tools": [{"type": "function", "function": {"name": "get_policy", "parameters": {"type": "object",
      "properties": {"topic": {"type": "string"}}}}}]}'

It reads the task (the first user message, after "Task:"), the tools offered, and the results of
the calls made so far, and emits the NEXT step, so an agent loop around it really runs:

- tools offered natively: one tool call per turn, then a final text answer (tool-use loop);
- no native tools, tools listed in the system prompt (ReAct): "Thought: ... / Action: name /
  Action Input: {json}", reading earlier "Observation: {json}" messages; "Final Answer: ..." at the end;
- a system prompt with "ROLE: planner": a JSON plan {"plan": [{"id": "E1", "tool", "args"}]}, where
  later steps refer to earlier results as "#E1.cheapest.flight_id" (ReWOO, Plan-and-Execute); only
  the steps not yet done, so asking again after a failure is a re-plan;
- "ROLE: reflector": a one-paragraph lesson from the failed attempt (Reflexion);
- "ROLE: solver": the final answer from the evidence in the prompt;
- "ROLE: supervisor" (multi-agent): "NEXT: <agent>" naming the listed agent ("- name: ... Tools: a, b")
  whose tools hold the next step, or "FINISH: <answer>";
- "ROLE: specialist": a tool call while the next step is one of its tools, else a one-line hand-back.

Task language: "Book the cheapest|earliest flight from LON to NYC on 2026-05-01 [and the
cheapest|best-rated hotel in NYC for 3 nights] for customer C01", "Book the cheapest hotel in PAR
for 2 nights for customer C03", "Cancel booking B002 for customer C02", "Look up the pets policy".
Tool choice is not perfect: among the tools offered it calls the one whose name and description
read closest to what it means (`choose_tool`, softmax at `choice_temperature`), so a zoo of
near-duplicate tools makes it pick the wrong one at times (tool_zoo.py measures how often).
Errors in results are handled as a careful model would: a sold-out flight is replaced by the next
one, an invalid or unknown call is redone correctly, the same failing call three times in a row (or
a human's rejection) ends with an answer saying what failed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.mockllm.embeddings import embed_text
from shared.mockllm.engine import MockRequest, Reply, ToolCallOut, behaviour

GIVE_UP_AFTER = 3
FINAL_CODES = {"rejected", "not_found", "hold_not_open", "payment_mismatch", "blocked", "already_paid"}


@dataclass
class Intent:
    kind: str  # book | cancel | policy | unknown
    customer: str = ""
    flight: dict[str, str] | None = None
    hotel: dict[str, Any] | None = None
    booking_id: str = ""
    topic: str = ""


@dataclass
class Obs:
    tool: str
    args: dict[str, Any]
    result: Any
    error: dict[str, Any] | None = field(default=None)


def parse_task(text: str) -> Intent:
    m = re.search(r"Task:\s*(.+)", text, re.S)
    text = (m.group(1) if m else text).strip().split("\n")[0]
    customer = (re.search(r"\b(C\d{2})\b", text) or [None, ""])[1]
    if m := re.search(r"cancel booking (B\d{3})", text, re.I):
        return Intent("cancel", customer, booking_id=m.group(1))
    flight = re.search(r"(cheapest|earliest) flight from ([A-Z]{3}) to ([A-Z]{3}) on (\d{4}-\d{2}-\d{2})", text)
    hotel = re.search(r"(cheapest|best-rated) hotel in ([A-Z]{3}) for (\d+) nights?", text)
    if re.search(r"\bbook\b", text, re.I) and (flight or hotel):
        return Intent("book", customer,
                      flight=dict(zip(("pick", "origin", "destination", "date"), flight.groups(), strict=True))
                      if flight else None,
                      hotel={"pick": hotel[1].replace("-", "_"), "city": hotel[2], "nights": int(hotel[3])}
                      if hotel else None)
    if m := re.search(r"(\w+) policy", text, re.I):
        return Intent("policy", customer, topic=m.group(1).lower())
    return Intent("unknown", customer)


def _json(text: str) -> Any:
    """A result as data; spotlighted results (<untrusted ...>datamarked JSON</untrusted>) are unwrapped."""
    if isinstance(text, str) and (m := re.fullmatch(r"\s*<untrusted[^>]*>(.*)</untrusted>\s*", text, re.S)):
        text = m.group(1).replace("^", " ")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


def observations(req: MockRequest) -> list[Obs]:
    """Every call made so far with its result, from native tool messages or ReAct text."""
    out: list[Obs] = []
    pending: dict[str, tuple[str, Any]] = {}
    last_text_action: tuple[str, Any] | None = None
    for m in req.messages:
        role, text = m.get("role"), req.text_of(m)
        if role == "assistant":
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                pending[call.get("id", "")] = (fn.get("name", ""), _json(fn.get("arguments", "{}")))
            if a := re.search(r"Action:\s*(\w+)\s*\nAction Input:\s*(\{.*\})", text or "", re.S):
                last_text_action = (a[1], _json(a[2]))
        elif role == "tool":
            name, args = pending.pop(m.get("tool_call_id", ""), ("", {}))
            out.append(_obs(name, args, _json(text)))
        elif role == "user" and last_text_action and text.startswith("Observation:"):
            out.append(_obs(*last_text_action, _json(text[len("Observation:"):].strip())))
            last_text_action = None
    return out


def _obs(name: str, args: Any, result: Any) -> Obs:
    name = name.rsplit("__", 1)[-1]  # a namespaced call (booking__pay) is the tool it names
    error = result.get("error") if isinstance(result, dict) and isinstance(result.get("error"), dict) else None
    if isinstance(result, dict) and isinstance(result.get("error"), str):
        error = {"code": "error", "message": result["error"]}
    return Obs(name, args if isinstance(args, dict) else {}, result, error)


def plan_steps(intent: Intent) -> list[dict[str, Any]]:
    """The whole plan, with later arguments pointing at earlier results ("#E1.cheapest.flight_id")."""
    steps: list[dict[str, Any]] = []

    def add(tool: str, args: dict[str, Any]) -> str:
        steps.append({"id": f"E{len(steps) + 1}", "tool": tool, "args": args})
        return steps[-1]["id"]

    c = intent.customer
    if intent.kind == "book":
        holds = []
        if f := intent.flight:
            e = add("search_flights", {"origin": f["origin"], "destination": f["destination"], "date": f["date"]})
            holds.append("#" + add("hold_flight", {"customer_id": c, "flight_id": f"#{e}.{f['pick']}.flight_id"})
                         + ".hold_id")
        if h := intent.hotel:
            e = add("search_hotels", {"city": h["city"], "nights": h["nights"]})
            holds.append("#" + add("hold_hotel", {"customer_id": c, "hotel_id": f"#{e}.{h['pick']}.hotel_id",
                                                  "nights": h["nights"]}) + ".hold_id")
        pay = add("pay", {"customer_id": c, "hold_ids": holds})
        add("book", {"customer_id": c, "hold_ids": holds, "payment_id": f"#{pay}.payment_id"})
    elif intent.kind == "cancel":
        add("get_booking", {"booking_id": intent.booking_id})
        add("cancel_booking", {"booking_id": intent.booking_id})
    elif intent.kind == "policy":
        add("get_policy", {"topic": intent.topic})
    return steps


def _done(obs: list[Obs], tool: str) -> Obs | None:
    for o in reversed(obs):
        if o.tool == tool and o.error is None:
            return o
    return None


def _choose(result: dict[str, Any], key: str, pick: str, id_key: str, excluded: set[str]) -> str | None:
    """The preferred item, or the next best one when the preferred is sold out."""
    items = [i for i in result.get(key) or [] if i[id_key] not in excluded]
    if not items:
        return None
    if pick == "earliest":
        return items[0][id_key]
    if pick == "best_rated":
        return max(items, key=lambda i: i["rating"])[id_key]
    return min(items, key=lambda i: i.get("total", i.get("price", 0)))[id_key]


def next_step(intent: Intent, obs: list[Obs]) -> tuple[str, dict[str, Any]] | str:
    """The next call (tool, args), or the final answer as a string."""
    if obs and obs[-1].error is not None:
        last = obs[-1]
        streak = 0
        for o in reversed(obs):
            if o.error is None or o.tool != last.tool:
                break
            streak += 1
        code = last.error.get("code", "error")
        if code in FINAL_CODES or streak >= GIVE_UP_AFTER:
            return f"I could not complete the task: {last.tool} failed ({code}: {last.error.get('message', '')})."
    c = intent.customer
    if intent.kind == "policy":
        if done := _done(obs, "get_policy"):
            return f"The {intent.topic} policy: {done.result.get('text', '')}"
        return "get_policy", {"topic": intent.topic}
    if intent.kind == "cancel":
        booking = _done(obs, "get_booking")
        if booking is None:
            return "get_booking", {"booking_id": intent.booking_id}
        if booking.result.get("customer_id") != c:
            return f"I cannot cancel {intent.booking_id}: it does not belong to customer {c}."
        if done := _done(obs, "cancel_booking"):
            return f"Cancelled booking {intent.booking_id}; refunded {done.result.get('refunded')}."
        return "cancel_booking", {"booking_id": intent.booking_id}
    if intent.kind != "book":
        return "I can search and book flights and hotels, cancel bookings and look up policies."
    holds = []
    for kind, spec in (("flight", intent.flight), ("hotel", intent.hotel)):
        if spec is None:
            continue
        search = _done(obs, f"search_{kind}s")
        if search is None:
            args = {"origin": spec["origin"], "destination": spec["destination"], "date": spec["date"]} \
                if kind == "flight" else {"city": spec["city"], "nights": spec["nights"]}
            return f"search_{kind}s", args
        hold = _done(obs, f"hold_{kind}")
        if hold is None:
            sold = {o.args.get(f"{kind}_id") for o in obs if o.tool == f"hold_{kind}" and o.error
                    and o.error.get("code") == "sold_out"}
            item = _choose(search.result, f"{kind}s", spec["pick"], f"{kind}_id", sold)
            if item is None:
                return f"I could not complete the task: no {kind} is available."
            args = {"customer_id": c, f"{kind}_id": item}
            return f"hold_{kind}", args if kind == "flight" else {**args, "nights": spec["nights"]}
        holds.append(hold.result["hold_id"])
    pay = _done(obs, "pay")
    if pay is None:
        return "pay", {"customer_id": c, "hold_ids": holds}
    if done := _done(obs, "book"):
        return f"Booked: booking {done.result['booking_id']} for {c}, total {done.result['amount']}."
    return "book", {"customer_id": c, "hold_ids": holds, "payment_id": pay.result["payment_id"]}


THOUGHTS = {"search_flights": "I need the flights on this route and date first.",
            "search_hotels": "Now I need the hotels in the city for those nights.",
            "hold_flight": "I will hold a seat on the flight the customer prefers.",
            "hold_hotel": "I will hold a room at the hotel the customer prefers.",
            "pay": "Everything is held; I charge the customer for the holds.",
            "book": "Payment went through; I confirm the holds as a booking.",
            "get_booking": "I check the booking belongs to this customer.",
            "cancel_booking": "The booking is theirs; I cancel it, which refunds it.",
            "get_policy": "I look the policy up rather than guess."}


def _role(req: MockRequest) -> str:
    m = re.search(r"ROLE:\s*(\w+)", req.system())
    return m.group(1).lower() if m else "actor"


def task_text(req: MockRequest) -> str:
    for m in req.messages:
        if m.get("role") == "user":
            return req.text_of(m)
    return ""


# What the agent means by each step, in its own words: a tool is recognised by how close its name and
# description read to this (never by a list of right answers), so near-duplicates compete for the call.
NEEDS = {"search_flights": "find the flights on a route and date, with prices",
         "search_hotels": "find the hotels in a city for some nights, with prices and ratings",
         "get_policy": "read the travel policy on a topic",
         "get_booking": "read an existing booking to see whose it is",
         "hold_flight": "reserve a seat on the chosen flight for the customer",
         "hold_hotel": "reserve a room at the chosen hotel for the customer",
         "pay": "charge the customer for the holds",
         "book": "confirm the paid holds as a booking",
         "cancel_booking": "cancel the customer's booking and refund it",
         "refund": "refund a payment", "cancel_hold": "release a hold"}
CHOICE_TEMPERATURE = 0.02  # the `choice_temperature` mock option; 0 picks the intended tool every time


def choice_probabilities(req: MockRequest, intended: str) -> tuple[list[str], np.ndarray] | None:
    """The offered tool names and the chance the agent calls each for the step it means (None: the
    step's tool is not offered at all).

    The step's intent (its name, in the namespace the system prompt names, and NEEDS) is embedded with
    the mock's n-gram embeddings and compared with every offered name + description (s_j, a cosine);
    the call goes to tool j with probability softmax(s / T)_j. Distinct tools sit far apart and the
    intended one wins every time; near-duplicates (a legacy copy, another service's `get_policy`)
    sit close and steal calls, more of them the more there are.
    """
    specs = [((t.get("function") or t).get("name", ""), (t.get("function") or t).get("description", ""))
             for t in req.tools]
    names = [n for n, _ in specs]
    ns = (re.search(r"namespace (\w+)", req.system()) or [None, ""])[1]
    own = next((n for n in names if n in (intended, f"{ns}__{intended}")), None)
    if own is None:
        return None
    T = float(req.opt("choice_temperature", CHOICE_TEMPERATURE))
    if T <= 0 or len(names) == 1:
        return names, np.array([float(n == own) for n in names])
    query = np.array(embed_text(f"{own} {NEEDS.get(intended, intended)}"))
    s = np.array([embed_text(f"{n} {d}") for n, d in specs]) @ query
    p = np.exp((s - s.max()) / T)
    return names, p / p.sum()


def choose_tool(req: MockRequest, intended: str) -> str | None:
    """The offered tool the agent calls for the step it means, drawn from choice_probabilities."""
    found = choice_probabilities(req, intended)
    if found is None:
        return None
    names, p = found
    return names[min(int(np.searchsorted(np.cumsum(p), req.rng("tool-choice").random())), len(p) - 1)]


def route(req: MockRequest, step: tuple[str, dict[str, Any]] | str) -> str:
    """The supervisor's answer: the agent whose tools hold the next step, or FINISH with the answer."""
    if isinstance(step, str):
        return f"FINISH: {step}"
    agents = re.findall(r"^- (\w+): .*?Tools: (.*)$", req.system(), re.M)
    for name, tools in agents:
        if step[0] in {t.strip() for t in tools.split(",")}:
            return f"NEXT: {name}"
    return f"FINISH: I could not complete the task: no agent can use {step[0]}."


def decide(req: MockRequest) -> Reply:
    """The agent's reply to this request (see the module docstring for the roles)."""
    intent, obs = parse_task(task_text(req)), observations(req)
    role = _role(req)
    if role == "planner":
        done = {o.tool for o in obs if o.error is None}
        steps = [s for s in plan_steps(intent) if s["tool"] not in done]
        return Reply(content=json.dumps({"plan": steps}))
    if role == "reflector":
        failed = [o for o in obs if o.error is not None]
        what = f"{failed[-1].tool} failed with {failed[-1].error.get('code')}" if failed else "the attempt stopped"
        return Reply(content=f"Lesson: {what}. Next time check each result before the next step and retry "
                             "transient failures once before giving up.")
    if role == "solver":
        text = req.last_user()
        ids = re.findall(r'"booking_id":\s*"(\w+)"', text)
        errors = re.findall(r'"code":\s*"(\w+)"', text)
        if errors:
            return Reply(content=f"I could not complete the task: a step failed ({errors[-1]}).")
        return Reply(content=f"Done. {('Booking ' + ids[-1]) if ids else 'All steps succeeded'}.")
    step = next_step(intent, obs)
    if role == "supervisor":
        return Reply(content=route(req, step))
    offered = {(t.get("function") or t).get("name") for t in req.tools}
    if role == "specialist" and (isinstance(step, str) or step[0] not in offered):
        done = [o.tool for o in obs if o.error is None]
        return Reply(content=f"My part is done ({', '.join(done[-2:]) or 'nothing to do'}); "
                             f"{'the task is finished' if isinstance(step, str) else 'next: ' + step[0]}.")
    if isinstance(step, str):
        return Reply(content=step if req.tools or role != "actor" or "Action Input" not in req.system()
                     else f"Thought: I have what I need.\nFinal Answer: {step}")
    name, args = step
    if req.tools:
        chosen = choose_tool(req, name)
        if chosen is None:
            return Reply(content=f"I could not complete the task: I am not allowed to use {name}.")
        return Reply(tool_calls=[ToolCallOut(name=chosen, arguments=json.dumps(args))])
    return Reply(content=f"Thought: {THOUGHTS.get(name, 'Next step.')}\nAction: {name}\n"
                         f"Action Input: {json.dumps(args)}")


@behaviour("agent", "Deterministic travel-booking agent: plans multi-step tool use (tool loop, ReAct text, "
                    "planner JSON with #E references, reflections, solver) from the task and results so far")
def agent(req: MockRequest) -> Reply:
    return decide(req)
