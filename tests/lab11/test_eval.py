import numpy as np
import pytest
import torch
from scipy import linalg
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from labs.lab11_multimodal import data
from labs.lab11_multimodal import eval as mm_eval


def scipy_fid(mu1, s1, mu2, s2):
    """pytorch-fid's formula: scipy's general matrix square root of S1 S2."""
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("seed", range(5))
def test_frechet_distance_matches_scipy_sqrtm(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 12))
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    assert mm_eval.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_fid(mu1, s1, mu2, s2), rel=1e-6)


def test_frechet_distance_of_a_gaussian_with_itself_is_zero_and_shift_is_squared():
    s = np.diag([1.0, 2.0, 3.0])
    mu = np.zeros(3)
    assert mm_eval.frechet_distance(mu, s, mu, s) == pytest.approx(0, abs=1e-9)
    assert mm_eval.frechet_distance(mu, s, mu + 2, s) == pytest.approx(12, abs=1e-9)


def test_fid_orders_real_samples_noise(models):
    d = data.digits()
    real_a, real_b = d.images[d.train[:300]], d.images[d.test[:300]]
    noise = np.random.default_rng(0).random((300, 8, 8))
    near, far = mm_eval.fid(models.classifier, real_a, real_b), mm_eval.fid(models.classifier, real_a, noise)
    assert near < 10 < 5 * near < far


def test_clip_score_is_100_times_clipped_cosine():
    u, v = torch.randn(6, 4), torch.randn(6, 4)
    cos = (u / u.norm(dim=1, keepdim=True) * (v / v.norm(dim=1, keepdim=True))).sum(1)
    np.testing.assert_allclose(mm_eval.clip_score(u, v), (100 * cos.clamp(min=0)).numpy(), atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_pope_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth, said = rng.random(200) < 0.5, rng.random(200) < 0.6
    probes = [(0, "x", bool(t)) for t in truth]
    m = mm_eval.pope_metrics(probes, said.tolist())
    assert m["accuracy"] == pytest.approx(accuracy_score(truth, said), abs=1e-4)
    assert m["precision"] == pytest.approx(precision_score(truth, said), abs=1e-4)
    assert m["recall"] == pytest.approx(recall_score(truth, said), abs=1e-4)
    assert m["f1"] == pytest.approx(f1_score(truth, said), abs=1e-4)
    assert m["yes_ratio"] == pytest.approx(said.mean(), abs=1e-4)


def test_pope_questions_are_balanced_and_negatives_absent():
    images = mm_eval.scenes(50)
    for sampling in ("random", "popular", "adversarial"):
        qs = mm_eval.questions(images, sampling)
        assert sum(q[2] for q in qs) == sum(not q[2] for q in qs)
        assert all((obj in images[i]) == yes for i, obj, yes in qs)


def test_adversarial_negatives_are_hardest_and_the_prior_is_why():
    vlm = mm_eval.MockVLM()
    acc = {s: mm_eval.pope(vlm, s)["accuracy"] for s in ("random", "popular", "adversarial")}
    assert acc["random"] > acc["popular"] > acc["adversarial"]
    no_prior = mm_eval.pope(mm_eval.MockVLM(prior=0.0), "adversarial")
    assert no_prior["accuracy"] > acc["adversarial"] + 0.05 and no_prior["yes_ratio"] < 0.55


def test_pope_is_deterministic():
    assert mm_eval.pope(mm_eval.MockVLM(), "popular") == mm_eval.pope(mm_eval.MockVLM(), "popular")
