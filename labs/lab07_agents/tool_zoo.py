"""The tool-zoo problem: the more similar tools an agent is offered, the more often it calls the wrong one.

    .venv/bin/python bench/bench_lab07_tool_zoo.py           # accuracy, success, tokens for 5..50 tools

An agent wired to many services (MCP servers, internal APIs) sees their tools side by side: the
travel service's `search_flights`, a legacy copy of it, the GDS's `flight_search`, ops'
`search_flight_status`, expenses' and HR's `get_policy`. `ZooToolBox` offers the task's real tools
plus N - n others (the other real tools and 39 near-duplicates from 14 other services, in a
seeded order), so N runs from 5 to 50. A distractor does nothing useful: it answers a
`wrong_tool` error, and the agent must choose again.

The mock agent (mock_agent.choose_tool) recognises a tool by how close its name and description
read to the step it means, and calls tool j with probability softmax(s / T)_j. So accuracy falls
with near-duplicates, not with count alone, and the fix has to separate them:

- namespacing: every name carries its service (`booking__search_flights`, `legacy__search_flights`),
  every description starts with "[service]", and the system prompt says which namespace is ours.
  Names that collide in a flat list get the service as a suffix instead (`search_flights_legacy`).

Selection accuracy is read off the trajectory: a call is right when it names the tool the reference
trajectory needs next (a wrong pick fails, so the next right call is still the same step).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from labs.lab07_agents.tools import TOOLS, Tool, ToolBox, ToolFaults
from labs.lab07_agents.world import ToolError, World

OURS = "booking"
# (service, name, description): near-duplicates of the travel tools first, then unrelated tools
DISTRACTORS: list[tuple[str, str, str]] = [
    ("legacy", "search_flights", "Search flights between two cities on a date (old system: read-only mirror, "
                                 "prices may be stale)."),
    ("gds", "flight_search", "Search flights on a route and date in the global distribution system."),
    ("ops", "search_flight_status", "Look up the live departure status and gate of a flight."),
    ("expenses", "search_flights_taken", "Search the flights a customer has already taken, for expense reports."),
    ("legacy", "search_hotels", "Search hotels in a city for a number of nights (old system: read-only mirror)."),
    ("gds", "hotel_search", "Search hotels in a city in the global distribution system."),
    ("reviews", "search_hotel_reviews", "Search guest reviews of hotels in a city."),
    ("expenses", "get_policy", "Look up an expense policy by topic (meals, mileage, per diem)."),
    ("hr", "get_policy", "Look up an HR policy by topic (leave, remote work, benefits)."),
    ("legacy", "get_policy", "Look up a travel policy by topic (old system, may be outdated)."),
    ("facilities", "get_booking", "Look up a meeting-room booking by id."),
    ("legacy", "get_booking", "Look up a booking by id in the old system."),
    ("legacy", "hold_flight", "Hold a seat on a flight in the old system (deprecated)."),
    ("gds", "flight_hold", "Hold a seat on a flight in the global distribution system."),
    ("calendar", "hold_slot", "Hold a slot in a customer's calendar (nothing is sent yet)."),
    ("legacy", "hold_hotel", "Hold a hotel room in the old system (deprecated)."),
    ("gds", "hotel_hold", "Hold a hotel room in the global distribution system."),
    ("facilities", "hold_room", "Hold a meeting room for some hours."),
    ("billing", "pay", "Pay a supplier invoice from the company account."),
    ("legacy", "pay", "Charge a card in the old payments system (deprecated)."),
    ("expenses", "pay_claim", "Pay out an employee expense claim."),
    ("facilities", "book", "Confirm a held meeting room as a booking."),
    ("legacy", "book", "Confirm holds as a booking in the old system (deprecated)."),
    ("cars", "book_car", "Book a rental car for a customer."),
    ("calendar", "cancel_booking", "Cancel a calendar booking and notify its attendees."),
    ("legacy", "cancel_booking", "Cancel a booking in the old system (deprecated)."),
    ("cars", "cancel_car", "Cancel a rental car booking."),
    ("billing", "refund", "Refund a supplier invoice payment."),
    ("expenses", "refund_claim", "Refund an employee expense claim."),
    ("legacy", "cancel_hold", "Release a hold in the old system (deprecated)."),
    ("calendar", "cancel_slot", "Release a held calendar slot."),
    ("mail", "send_email", "Send an email to a customer."),
    ("support", "create_ticket", "Open a support ticket for a customer."),
    ("weather", "get_forecast", "Get the weather forecast for a city and date."),
    ("fx", "convert_currency", "Convert an amount between currencies."),
    ("lang", "translate_text", "Translate a text into another language."),
    ("crm", "get_customer", "Look up a customer's profile by id."),
    ("crm", "update_customer", "Update a customer's contact details."),
    ("loyalty", "get_points", "Look up a customer's loyalty points."),
]
MAX_TOOLS = len(TOOLS) + len(DISTRACTORS)  # 50


class AnyArgs(BaseModel):
    query: str = ""


@dataclass(frozen=True)
class Entry:
    service: str
    name: str
    description: str

    @property
    def real(self) -> bool:
        return self.service == OURS


def catalogue() -> list[Entry]:
    return [Entry(OURS, n, t.description) for n, t in TOOLS.items()] + [Entry(*d) for d in DISTRACTORS]


def offered(task: dict[str, Any], n_tools: int, seed: int = 0) -> list[Entry]:
    """The task's own tools, then others in a seeded order, up to n_tools (at least the task's own)."""
    needed = [e for e in catalogue() if e.real and e.name in task["tools"]]
    # the saga's own cancel_hold is never offered to the model (injection.allowed_tools)
    rest = [e for e in catalogue() if e not in needed and not (e.real and e.name == "cancel_hold")]
    random.Random(f"{task['id']}-{seed}").shuffle(rest)
    return needed + rest[:max(0, n_tools - len(needed))]


def display_name(entry: Entry, entries: list[Entry], namespaced: bool) -> str:
    if namespaced:
        return f"{entry.service}__{entry.name}"
    clash = any(o.name == entry.name and o is not entry for o in entries)
    return f"{entry.name}_{entry.service}" if clash and not entry.real else entry.name


class ZooToolBox(ToolBox):
    """A ToolBox that offers the model a zoo: the real tools it executes, plus distractors that do nothing."""

    def __init__(self, world: World, entries: list[Entry], namespaced: bool = False,
                 faults: ToolFaults | None = None):
        super().__init__(world, faults)
        self.entries, self.namespaced = entries, namespaced
        self.names = {display_name(e, entries, namespaced): e for e in entries}
        self.note = f"Your tools are the ones in namespace {OURS}; other namespaces belong to other teams." \
            if namespaced else ""

    def schemas(self, names: set[str] | None = None) -> list[dict[str, Any]]:
        out = []
        for shown, e in self.names.items():
            if e.real and names is not None and e.name not in names:
                continue
            tool = TOOLS[e.name] if e.real else Tool(shown, e.description, AnyArgs)
            desc = f"[{e.service}] {e.description}" if self.namespaced else e.description
            out.append({"type": "function", "function": {"name": shown, "description": desc,
                                                         "parameters": tool.args.model_json_schema()}})
        return out

    def validate(self, name: str, arguments: Any) -> tuple[Tool, dict[str, Any]]:
        e = self.names.get(name)
        if e is not None and not e.real:
            raise ToolError("wrong_tool", f"{name} belongs to the {e.service} service and did nothing for this "
                                          "request", retryable=False)
        return super().validate(e.name if e is not None else name, arguments)


def selection_accuracy(calls: list[str], reference: list[str]) -> tuple[int, int]:
    """(right, total): a call is right when it names the reference's next step (a wrong pick fails,
    so the same step is still next)."""
    right = j = 0
    for tool in calls:
        if j < len(reference) and tool == reference[j]:
            right, j = right + 1, j + 1
    return right, len(calls)
