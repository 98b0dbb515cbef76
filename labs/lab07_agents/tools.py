"""Tools written for a model: a name, a description, a Pydantic schema, structured errors, keys.

    python -m labs.lab07_agents.tools         # prints the tool schemas the model sees

A tool call from a model is untrusted input: `ToolBox.call` checks the name (an unknown name is a
hallucinated tool), validates the arguments against the schema (invalid arguments are answered
with the validation errors, so the model can fix its call), and turns every failure into a
`{"error": {"code", "message", "retryable"}}` result instead of an exception.

Side-effecting tools take an `idempotency_key`; the runtime fills it (models are bad at inventing
unique keys), from the run, the saga epoch, the tool and its arguments, so the same logical call
always carries the same key. `ToolFaults` injects this lab's tool failures: errors before the effect,
errors after it (the response is lost, the effect is not: the case idempotency keys exist for), and
latency spikes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from labs.lab07_agents.world import ToolError, World
from shared.schemas import IsoDate

CODE = r"^[A-Z]{1,3}[0-9]{2,4}$"


class SearchFlights(BaseModel):
    origin: str = Field(pattern=r"^[A-Za-z]{3}$", description="3-letter city code, e.g. LON")
    destination: str = Field(pattern=r"^[A-Za-z]{3}$", description="3-letter city code, e.g. NYC")
    date: IsoDate


class SearchHotels(BaseModel):
    city: str = Field(pattern=r"^[A-Za-z]{3}$", description="3-letter city code")
    nights: int = Field(ge=1, le=30)


class GetPolicy(BaseModel):
    topic: str = Field(min_length=1, max_length=40, description="baggage, cancellation, refund or pets")


class GetBooking(BaseModel):
    booking_id: str = Field(pattern=CODE)


class HoldFlight(BaseModel):
    customer_id: str = Field(pattern=CODE)
    flight_id: str = Field(pattern=CODE)


class HoldHotel(BaseModel):
    customer_id: str = Field(pattern=CODE)
    hotel_id: str = Field(pattern=CODE)
    nights: int = Field(ge=1, le=30)


class Pay(BaseModel):
    customer_id: str = Field(pattern=CODE)
    hold_ids: list[str] = Field(min_length=1, max_length=4)


class Book(BaseModel):
    customer_id: str = Field(pattern=CODE)
    hold_ids: list[str] = Field(min_length=1, max_length=4)
    payment_id: str = Field(min_length=3, max_length=12)


class CancelHold(BaseModel):
    hold_id: str = Field(min_length=3, max_length=12)


class Refund(BaseModel):
    payment_id: str = Field(min_length=3, max_length=12)


class CancelBooking(BaseModel):
    booking_id: str = Field(pattern=CODE)


@dataclass
class Tool:
    name: str
    description: str
    args: type[BaseModel]
    side_effect: bool = False
    keyed: bool = True  # takes an idempotency key (read-only tools are idempotent anyway)
    compensation: Callable[[dict[str, Any], dict[str, Any]], tuple[str, dict[str, Any]] | None] | None = None

    @property
    def retry_safe(self) -> bool:
        """Retrying is safe only for calls that cannot repeat an effect: read-only, or keyed."""
        return not self.side_effect or self.keyed

    def schema(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.args.model_json_schema()}}


TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("search_flights", "Search flights between two cities on a date. Returns flights with price and "
         "seats, plus the cheapest and earliest.", SearchFlights),
    Tool("search_hotels", "Search hotels in a city for a number of nights. Returns hotels with total price "
         "and rating, plus the cheapest and best_rated.", SearchHotels),
    Tool("get_policy", "Look up a travel policy by topic (baggage, cancellation, refund, pets).", GetPolicy),
    Tool("get_booking", "Look up an existing booking by id: its customer, amount and status.", GetBooking),
    Tool("hold_flight", "Hold one seat on a flight for a customer (reserves it; nothing is charged yet).",
         HoldFlight, side_effect=True,
         compensation=lambda a, r: ("cancel_hold", {"hold_id": r["hold_id"]})),
    Tool("hold_hotel", "Hold a hotel room for a customer for some nights (nothing is charged yet).",
         HoldHotel, side_effect=True,
         compensation=lambda a, r: ("cancel_hold", {"hold_id": r["hold_id"]})),
    Tool("pay", "Charge the customer's card for the given holds. Returns payment_id and amount.", Pay,
         side_effect=True, compensation=lambda a, r: ("refund", {"payment_id": r["payment_id"]})),
    Tool("book", "Confirm paid holds as a booking. Needs the hold_ids and the payment_id that paid them.",
         Book, side_effect=True),
    Tool("cancel_hold", "Release a hold that was not booked.", CancelHold, side_effect=True),
    Tool("refund", "Refund a payment in full.", Refund, side_effect=True),
    Tool("cancel_booking", "Cancel a confirmed booking and refund its payment.", CancelBooking, side_effect=True),
]}

COMMIT_TOOLS = {"book"}  # a successful call ends the saga: its compensations are no longer owed


@dataclass
class ToolFaults:
    """Seeded tool failures: `error_rate` (half before the effect, half after it: a lost response),
    `latency_ms` on every call, and `spike_rate` calls that take `spike_ms` instead."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    spike_rate: float = 0.0
    spike_ms: float = 0.0
    seed: int = 0
    only: set[str] | None = None  # restrict faults to these tools (None: all)
    rng: random.Random = field(init=False)

    def __post_init__(self):
        self.rng = random.Random(self.seed)


class DeadlineExceeded(Exception):
    """The run's deadline passed during a call (cascading timeout)."""


class ToolBox:
    def __init__(self, world: World, faults: ToolFaults | None = None,
                 injections: dict[str, str] | None = None):
        self.world, self.faults = world, faults or ToolFaults()
        self.injections = injections or {}  # tool name -> text an attacker planted in its output
        self.counts = {"calls": 0, "unknown_tool": 0, "invalid_args": 0, "faults": 0}

    def schemas(self, names: set[str] | None = None) -> list[dict[str, Any]]:
        return [t.schema() for t in TOOLS.values() if names is None or t.name in names]

    def validate(self, name: str, arguments: str | dict[str, Any]) -> tuple[Tool, dict[str, Any]]:
        """The tool and its checked arguments, or a ToolError the model can correct itself from."""
        tool = TOOLS.get(name)
        if tool is None:
            self.counts["unknown_tool"] += 1
            raise ToolError("unknown_tool", f"there is no tool named {name!r}", tools=sorted(TOOLS))
        try:
            args = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
            return tool, tool.args.model_validate(args).model_dump()
        except (ValueError, ValidationError) as exc:
            self.counts["invalid_args"] += 1
            detail = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()] \
                if isinstance(exc, ValidationError) else [str(exc)[:200]]
            raise ToolError("invalid_arguments", f"invalid arguments for {name}", errors=detail,
                            schema=tool.args.model_json_schema()) from None

    def execute(self, tool: Tool, args: dict[str, Any], key: str, timeout_s: float) -> dict[str, Any]:
        """Run one validated call within `timeout_s` seconds; faults are drawn here."""
        self.counts["calls"] += 1
        f = self.faults
        faulty = f.only is None or tool.name in f.only
        delay = (f.spike_ms if faulty and f.spike_rate and f.rng.random() < f.spike_rate else f.latency_ms) / 1000
        if delay > timeout_s:
            time.sleep(max(0.0, timeout_s))
            raise DeadlineExceeded(f"{tool.name} did not answer within the run's deadline")
        time.sleep(delay)
        draw = f.rng.random() if faulty and f.error_rate else 1.0
        if draw < f.error_rate / 2:
            self.counts["faults"] += 1
            raise ToolError("unavailable", f"{tool.name} is temporarily unavailable", retryable=True)
        fn = getattr(self.world, tool.name)
        result = fn(**args, idempotency_key=key) if tool.side_effect else fn(**args)
        if draw < f.error_rate:
            self.counts["faults"] += 1
            raise ToolError("connection_reset", f"{tool.name}: connection reset before the reply", retryable=True)
        if tool.name in self.injections:
            result = plant(result, self.injections[tool.name])
        return result


def plant(result: dict[str, Any], text: str) -> dict[str, Any]:
    """An attacker's text inside data the tool returns (a review, a note, a description)."""
    out = json.loads(json.dumps(result))
    for key in ("flights", "hotels"):
        if out.get(key):
            out[key][0]["notes"] = text
            return out
    out["notes"] = text
    return out


if __name__ == "__main__":
    print(json.dumps([t.schema() for t in TOOLS.values()], indent=2))
