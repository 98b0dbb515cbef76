"""The six worked exercises, each answer checked independently."""

import json

import pytest
import torch

from labs.lab02_pytorch import exercises


def test_broadcasting():
    assert exercises.broadcasting()["answer"] == [8, 7, 6, 5]


def test_einsum_as_matmul():
    out = exercises.einsum_as_matmul()["answer"]
    assert out["output_shape"] == [2, 4, 5, 6] and out["max_abs_diff"] < 1e-6
    assert out["roles"]["contracted"] == ["d"] and out["roles"]["batch"] == ["b", "h"]


def test_log_sum_exp():
    out = exercises.log_sum_exp()["answer"]
    assert out["naive"] in ("nan", "inf")
    assert out["stable"] == pytest.approx(out["torch"], abs=1e-6)
    assert out["stable"] == pytest.approx(torch.log(1 + torch.exp(torch.tensor(-1.0)) + torch.exp(
        torch.tensor(-2.0))).item(), abs=1e-5)


def test_adamw_groups():
    decay, no_decay = exercises.adamw_groups()["answer"]
    assert decay["n_params"] == 64 * 64 + 2 * 64 * 64 + 64 * 10
    assert no_decay["weight_decay"] == 0.0 and "norm.weight" in no_decay["tensors"]


def test_warmup_cosine():
    out = exercises.warmup_cosine()["answer"]
    assert out["0"] == pytest.approx(3e-6) and out["99"] == pytest.approx(3e-4)
    assert out["550"] == pytest.approx(3e-4 * (0.1 + 0.9 * 0.5))


def test_bit_exact_resume():
    out = exercises.bit_exact_resume()["answer"]
    assert all(v == {"torch_equal": True, "max_abs_diff": 0.0} for v in out.values())


def test_json_output(capsys, monkeypatch):
    monkeypatch.setattr(exercises, "bit_exact_resume", lambda: {"answer": "skipped here"})
    assert exercises.main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 6 and all("answer" in v for v in data.values())
