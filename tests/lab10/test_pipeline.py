"""The CI smoke run: build → SFT → DPO → merge → generate in one process, asserting the measured gains."""

import datasets
import pytest
from transformers.utils import logging

from labs.lab10_finetune import pipeline

pytestmark = pytest.mark.slow

datasets.disable_progress_bars()
logging.disable_progress_bar()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return pipeline.run(tmp_path_factory.mktemp("lab10"))


def test_sft_teaches_the_held_out_task(report):
    sft = report["stages"]["sft"]
    assert sft["before"]["addition"] <= 0.1
    assert sft["after"]["addition"] >= 0.7


def test_sft_forgets_the_other_skill_and_replay_prevents_it(report):
    sft, replay = report["stages"]["sft"], report["stages"]["sft+replay"]
    assert sft["before"]["successor"] == 1.0
    assert sft["after"]["successor"] <= 0.8
    assert replay["after"]["successor"] == 1.0
    assert replay["after"]["addition"] >= 0.6


def test_dpo_moves_held_out_preferences_the_right_way(report):
    dpo = report["stages"]["dpo"]
    assert dpo["heldout_before"]["rewards/accuracies"] == 0.0
    assert dpo["heldout_after"]["rewards/accuracies"] >= 0.6
    assert dpo["heldout_after"]["rewards/margins"] > 0
    assert dpo["heldout_after"]["loss"] < dpo["heldout_before"]["loss"]
    assert dpo["exact_match_after"]["addition"] >= dpo["exact_match_before"]["addition"] - 0.1


def test_from_scratch_dpo_loss_equals_trl_on_the_same_batch(report):
    check = report["stages"]["dpo"]["loss_check"]
    assert check["abs_diff"] < 1e-5


def test_merged_and_dpo_model_generates_sums(report):
    right = sum(int(p[0]) + int(p[2]) == int(c) for p, c in report["samples"].items() if c.isdigit())
    assert right >= 4


def test_reward_model_fits_bradley_terry_and_ranks_held_out_pairs(report):
    rm = report["stages"]["reward"]
    assert rm["train_accuracy"] >= 0.9
    assert rm["heldout_after"] >= 0.65


def test_grpo_reports_reward_std_kl_and_length(report):
    g = report["stages"]["grpo"]
    assert g["steps"] == 20
    assert 0 <= g["reward_first_quarter"] <= 1 and 0 <= g["reward_last_quarter"] <= 1
    assert g["reward_last_quarter"] >= 0.7
    assert g["reward_std_mean"] > 0
    assert g["kl_max"] > 0
    assert 1 <= g["completion_length_mean"] <= 4


def test_from_scratch_grpo_advantages_equal_trls_on_every_scored_group(report):
    check = report["stages"]["grpo"]["advantage_check"]
    assert check["groups"] == 20 * 16 // 8
    assert check["max_abs_diff"] < 1e-4


def test_every_stage_records_wall_time(report):
    assert set(report["stages"]) == {"build", "sft", "sft+replay", "merge", "dpo", "reward", "grpo", "generate"}
    assert all(s["wall_s"] >= 0 for s in report["stages"].values())
    assert sum(s["wall_s"] for s in report["stages"].values()) < 120  # the CI budget for the smoke run
    for name in ("sft", "sft+replay", "dpo", "reward", "grpo"):
        assert report["stages"][name]["tokens_per_s"] > 0, name
