"""κ from scratch against scikit-learn and statsmodels on random ratings; curation on the rated fixture."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa

from labs.lab10_finetune import curation as C
from labs.lab10_finetune import model as M
from labs.lab10_finetune import train as T


def test_cohen_kappa_equals_sklearn_on_random_raters():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(5, 60))
        x = rng.choice(["a", "b", "c"], n).tolist()
        y = [v if rng.random() < 0.6 else str(rng.choice(["a", "b", "c"])) for v in x]
        assert C.cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y), abs=1e-12)


def test_fleiss_kappa_and_item_agreement_equal_statsmodels_on_random_votes():
    rng = np.random.default_rng(1)
    for _ in range(30):
        raters, N = int(rng.integers(2, 7)), int(rng.integers(5, 50))
        votes = [rng.choice(list("ab"), raters, p=[q, 1 - q]).tolist() for q in rng.uniform(0, 1, N)]
        n_ik = C.counts(votes)
        assert C.fleiss_kappa(n_ik) == pytest.approx(fleiss_kappa(n_ik, method="fleiss"), abs=1e-12)
    assert C.item_agreement(C.counts([["a", "a", "a"], ["a", "b", "a"]])).tolist() == pytest.approx([1.0, 1 / 3])


def test_curation_drops_split_pairs_and_most_wrong_labels():
    rated = M.fixture("prefs_rated")
    everything, kept = C.curate(rated, 0.0), C.curate(rated, 0.5)
    assert everything["kept"] == 80 and kept["kept"] + kept["dropped"] == 80
    assert 0 < kept["kept"] < 80
    assert kept["wrong_labels"]["kept"] < everything["wrong_labels"]["all"] / 3
    T.check_rows("dpo", kept["rows"])
    assert all(r["chosen"] != r["rejected"] for r in kept["rows"])
