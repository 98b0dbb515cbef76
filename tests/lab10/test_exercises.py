"""The worked exercises' answers, recomputed by hand where the arithmetic is short."""

import math

import pytest

from labs.lab10_finetune import exercises, train


@pytest.fixture(scope="module")
def solved():
    return exercises.solve()


def test_llama_7b_count_and_lora_share(solved):
    assert solved["llama_7b_params"]["answer"] == 6_738_415_616
    # q and v are 4096x4096: r·(4096+4096) each, 2 per layer, 32 layers
    assert solved["lora_share"]["trainable"] == 16 * 8192 * 2 * 32
    assert solved["lora_share"]["answer_pct"] == pytest.approx(100 * 16 * 8192 * 64 / 6_738_415_616, abs=1e-4)


def test_dpo_worked_batch_by_hand(solved):
    ex = solved["dpo_worked_batch"]
    b = ex["beta"]
    z = [b * ((pw - rw) - (pl - rl)) for pw, pl, rw, rl in zip(ex["pi_w"], ex["pi_l"], ex["ref_w"], ex["ref_l"],
                                                               strict=True)]
    want = sum(math.log1p(math.exp(-v)) for v in z) / len(z)
    assert ex["answer"]["loss"] == pytest.approx(want, abs=1e-6)
    assert ex["answer"]["rewards/margins"] == pytest.approx(sum(z) / 2, abs=1e-6)


def test_70b_on_48gb_and_grpo_advantages(solved):
    plan = solved["budget_70b_on_48gb"]["answer"]
    assert [plan[k]["fits"] for k in ("full", "lora", "qlora")] == [False, False, True]
    assert plan["qlora"]["gb"] < 48 < plan["lora"]["gb"]
    ex = solved["grpo_advantages"]
    # the chapter's convention (population std): 0.575 mean, std √(0.1475/4) = 0.19203
    mean = sum(ex["rewards"]) / 4
    std = math.sqrt(sum((r - mean) ** 2 for r in ex["rewards"]) / 4)
    assert ex["answer"] == [round((r - mean) / std, 4) for r in ex["rewards"]] == [1.1717, -0.3906, -1.4321, 0.6509]
    assert "population" in ex["convention"]
    assert ex["trl_trainer"]["advantages"] == [1.0143, -0.3381, -1.2397, 0.5635]
    assert "sample" in ex["trl_trainer"]["convention"]


def test_preference_spec_example_is_a_valid_dpo_row(solved):
    spec = solved["preference_data_spec"]["answer"]
    train.check_rows("dpo", [spec["example"]])
    assert set(spec["columns"]) == train.COLUMNS["dpo"]


def test_decision_cases_recompute_from_the_calculator(solved):
    from labs.lab10_finetune import decide

    cases = solved["prompt_rag_finetune"]
    assert len(cases) == 3
    for case in cases.values():
        assert case["answer"] == decide.decide(**case["inputs"])["ranking"]
    assert [c["answer"][0][0] for c in cases.values()] == ["rag", "finetune", "prompt"]


def test_eval_matrix_gates_by_hand(solved):
    ex = solved["finetune_eval_matrix"]
    base = ex["scores"][ex["base"]]
    for name, row in ex["scores"].items():
        if name == ex["base"]:
            continue
        ok = row["addition"] >= 0.6 and base["next_n"] - row["next_n"] <= 0.05
        assert ex["matrix"][name]["ship"] is ok, name
    assert not ex["matrix"]["full, lr 5e-3"]["ship"]  # the new task learnt, the old skill gone: blocked
    assert ex["answer"] == "full + L2-SP λ=0.02"
    nobody = exercises.eval_matrix(ex["scores"], "base", {"addition": {"min": 0.95}})
    assert nobody["answer"] is None
