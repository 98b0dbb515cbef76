import json
import math

import pytest

from labs.lab11_multimodal import exercises


def test_patch_counting():
    a = exercises.patch_counting()["answer"]
    assert [r["tokens"] for r in a["cases"]] == [197, 257, 577, 577, 4097]
    assert a["photos"][0]["native_tokens"] == 1041


def test_clip_loss_exercise_agrees_with_reference_and_matched_pairs_win():
    a = exercises.clip_loss_on_a_batch()["answer"]
    assert a["random_pairs"] == pytest.approx(a["reference_random_pairs"], abs=1e-4)
    assert a["matched_pairs"] < a["chance_level_log_N"] < a["random_pairs"]


def test_diffusion_walk():
    a = exercises.diffusion_walk()["answer"]
    assert [s["abar"] for s in a["steps"]] == pytest.approx([0.9, 0.72, 0.504])
    assert a["steps"][0]["x_t"][0] == pytest.approx(math.sqrt(0.9) + math.sqrt(0.1) * 0.5, abs=1e-6)


def test_pdf_rag_and_image_cost_and_hallucination():
    assert exercises.pdf_rag_design()["answer"]["pages"] == 200
    costs = exercises.image_cost_comparison()["answer"]
    assert costs["screenshot 1920x1080"]["openai_high"]["tokens"] == 1105
    h = exercises.hallucination_root_causes()["answer"]
    assert h["by_sampling"]["random"]["accuracy"] > h["by_sampling"]["adversarial"]["accuracy"]
    assert h["adversarial_by_cause"]["no language prior"]["accuracy"] > h["adversarial_by_cause"]["as shipped"]["accuracy"]


def test_json_output(capsys):
    exercises.main(["--json"])
    assert len(json.loads(capsys.readouterr().out)) == 6
