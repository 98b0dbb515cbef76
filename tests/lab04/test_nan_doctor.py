"""The NaN doctor names the right op, layer and cause for each seeded failure, and stays quiet on a healthy run."""

from __future__ import annotations

import pytest
import torch

from labs.lab04_dl import nan_doctor

EXPECTED = {"lr_too_high": ("pow", "learning rate too high"), "log_of_zero": ("log", "log of 0"),
            "fp16_overflow": ("exp", "fp16 overflow"), "zero_norm": ("div", "division by a zero norm")}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_scenarios_are_diagnosed(name):
    f = nan_doctor.run_scenario(name)["finding"]
    op, cause = EXPECTED[name]
    assert (f["op"], f["cause"]) == (op, cause)
    assert f["suggestion"] == nan_doctor.SUGGESTIONS[cause]


def test_layer_is_named():
    f = nan_doctor.run_scenario("zero_norm")["finding"]
    assert f["layer"] == "1 (_L2Normalize)"
    assert nan_doctor.run_scenario("lr_too_high")["finding"]["step"] > 3  # it takes a few steps to blow up


def test_healthy_run_has_no_finding():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 1)
    X = torch.randn(8, 4)

    def step(i):
        loss = (net(X) ** 2).mean()
        loss.backward()
        return loss.detach()
    assert nan_doctor.diagnose(net, step, max_steps=3) is None


def test_cause_comes_from_evidence_not_names():
    base = {"op": "mul", "dtype": "float32", "kind": "nan", "input_max_abs": 1.0, "input_min_abs": 0.0}
    assert nan_doctor.infer_cause(base, [1.0]) == "unknown"
    assert nan_doctor.infer_cause({**base, "dtype": "float16", "kind": "inf"}, []) == "fp16 overflow"
    assert nan_doctor.infer_cause(base, [1.0, 5.0, 50.0, float("nan")]) == "learning rate too high"


def test_unknown_scenario():
    with pytest.raises(KeyError):
        nan_doctor.run_scenario("cosmic_ray")
