"""The travel world: keyed side effects, the judge's outcome, the invariants."""

from __future__ import annotations

import pytest

from labs.lab07_agents.world import ToolError, World


def _hold_and_pay(world: World, key: str = "k"):
    hold = world.hold_flight("C01", "F002", f"{key}-h")
    return hold, world.pay("C01", [hold["hold_id"]], f"{key}-p")


def test_same_key_never_charges_twice(world):
    hold, first = _hold_and_pay(world)
    again = world.pay("C01", [hold["hold_id"]], "k-p")
    assert again["payment_id"] == first["payment_id"] and again["replayed"]
    assert sum(1 for p in world.ledger() if p["kind"] == "charge" and p["id"].startswith("PY")) == 1


def test_second_charge_under_another_key_is_refused(world):
    hold, _ = _hold_and_pay(world)
    with pytest.raises(ToolError) as err:
        world.pay("C01", [hold["hold_id"]], "other-key")
    assert err.value.code == "already_paid"


def test_key_reused_for_other_arguments_is_a_conflict(world):
    world.hold_flight("C01", "F002", "same")
    with pytest.raises(ToolError) as err:
        world.hold_flight("C01", "F003", "same")
    assert err.value.code == "idempotency_conflict"


def test_failed_effect_leaves_no_trace(world):
    with pytest.raises(ToolError):
        world.hold_flight("C99", "F002", "x")
    assert world.lookup("x") is None and world.violations() == []


def test_outcome_and_violations_follow_the_saga(world):
    hold, pay = _hold_and_pay(world)
    assert set(world.violations()) == {f"hold {hold['hold_id']} left open",
                                       f"charge {pay['payment_id']} has no booking and no refund"}
    booking = world.book("C01", [hold["hold_id"]], pay["payment_id"], "k-b")
    assert world.violations() == []
    assert world.outcome()["new_bookings"] == [{"customer_id": "C01", "amount": booking["amount"], "flight_id": "F002"}]
    assert world.outcome()["net_charges"] == {"C01": booking["amount"]}


def test_open_hold_and_unbooked_charge_are_violations(world):
    hold = world.hold_flight("C01", "F002", "h")
    assert world.violations() == [f"hold {hold['hold_id']} left open"]
    world.cancel_hold(hold["hold_id"], "u")
    assert world.violations() == []
    seats = world.store.one("SELECT seats FROM flights WHERE id='F002'")["seats"]
    assert seats == World(world.store.path.parent / "fresh.db").store.one(
        "SELECT seats FROM flights WHERE id='F002'")["seats"]


def test_cancel_booking_refunds_once(world):
    first = world.cancel_booking("B001", "c1")
    second = world.cancel_booking("B001", "c2")
    assert first["refunded"] > 0 and second["already"]
    assert sum(1 for p in world.ledger() if p["kind"] == "refund") == 1
    assert world.outcome()["cancelled"] == ["B001"]


def test_sold_out_flights_are_not_offered(world):
    world.store.execute("UPDATE flights SET seats=0 WHERE id='F002'")
    found = world.search_flights("LON", "NYC", "2026-05-01")
    assert "F002" not in [f["flight_id"] for f in found["flights"]]
    with pytest.raises(ToolError) as err:
        world.hold_flight("C01", "F002", "z")
    assert err.value.code == "sold_out"
