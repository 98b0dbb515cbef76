"""The classifier's data splits are disjoint, its threshold rule matches sklearn's ROC curve, its cache is keyed
by a digest, and the shipped fit is current and does on the test set what its validation promised."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve

from labs.lab12_safety import classifier, encoder
from labs.lab12_safety.probes import BENIGN, FAMILIES, TEST_SEED, benign, generate


@pytest.fixture(scope="module")
def data() -> classifier.Dataset:
    return classifier.dataset()


def test_train_validation_and_test_are_disjoint(data):
    train, val = set(data.train.texts), set(data.validation.texts)
    assert not train & val
    assert not (train | val) & classifier.held_out_texts()
    test_lookalikes = {t for texts in BENIGN.values() for t in texts}
    assert not test_lookalikes & {t for _, t in classifier.lookalikes("train") + classifier.lookalikes("validation")}
    # look-alikes are in training, e.g. the process-killing kind that used to be refused
    assert any("kill" in t and data.train.y[i] == 0 for i, t in enumerate(data.train.texts))
    assert {k for k, y in zip(data.validation.kinds, data.validation.y, strict=True) if y == 0} > {"plain"}


def test_a_template_is_never_split_between_train_and_validation():
    templates = json.loads(classifier.LOOKALIKES.read_text())["templates"]
    val = [t for t in templates if classifier.is_validation_template(t["text"])]
    assert 0 < len(val) < len(templates)
    val_texts = {t for _, t in classifier.lookalikes("validation")}
    train_texts = {t for _, t in classifier.lookalikes("train")}
    for t in templates:
        head = t["text"].split("{")[0]
        if head and len(head) > 25:  # a distinctive literal prefix identifies the template's variants
            assert not ({x for x in val_texts if x.startswith(head)} and {x for x in train_texts if x.startswith(head)})


def test_probes_of_a_seed_do_not_depend_on_the_run_size():
    small = {p.text for p in generate(["persona", "indirect"], 3, TEST_SEED)}
    assert small <= {p.text for p in generate(FAMILIES, 12, TEST_SEED)}


@pytest.mark.parametrize("seed", range(6))
def test_pick_threshold_matches_sklearn_roc_curve(seed):
    rng = np.random.default_rng(seed)
    p_benign, p_attack = rng.beta(2, 5, rng.integers(20, 200)), rng.beta(5, 2, rng.integers(20, 200))
    max_miss = float(rng.choice([0.0, 0.01, 0.05, 0.2]))
    t = classifier.pick_threshold(p_benign, p_attack, max_miss)
    y = np.r_[np.zeros(p_benign.size), np.ones(p_attack.size)]
    fpr, tpr, thresholds = roc_curve(y, np.r_[p_benign, p_attack], drop_intermediate=False)
    ok = tpr >= 1 - max_miss - 1e-12
    best = np.flatnonzero(ok & (fpr == fpr[ok].min())).min()  # the highest threshold at the lowest admissible FPR
    assert (p_attack < t).mean() <= max_miss + 1e-12
    assert (p_benign >= t).mean() == pytest.approx(fpr[best])
    assert (p_attack >= t).mean() == pytest.approx(tpr[best])


def test_score_matches_sklearn_predict_proba(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, encoder.DIM)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    lr = LogisticRegression(C=classifier.C).fit(x, y)
    clf = classifier.Classifier(lr.coef_[0].astype(np.float32), float(lr.intercept_[0]), 0.5)
    monkeypatch.setattr(classifier, "embed", lambda texts, cache_dir=None: x[[int(t) for t in texts]])
    np.testing.assert_allclose(clf.score([str(i) for i in range(60)]), lr.predict_proba(x)[:, 1], rtol=1e-4)


def _tiny(data: classifier.Dataset, extra: str = "") -> classifier.Dataset:
    def cut(s: classifier.Split) -> classifier.Split:
        keep = [i for i, y in enumerate(s.y) if y == 1][:6] + [i for i, y in enumerate(s.y) if y == 0][:6]
        split = classifier.Split(*([getattr(s, f)[i] for i in keep] for f in ("texts", "y", "kinds", "goals")))
        split.texts[-1] += extra
        return split
    return classifier.Dataset(cut(data.train), cut(data.validation))


def test_the_fit_is_cached_under_data_dir_by_digest(tmp_path, monkeypatch, data):
    tiny = _tiny(data)
    monkeypatch.setattr(classifier, "dataset", lambda: tiny)
    first = classifier.load_or_fit(tmp_path, shipped=tmp_path / "none.json")
    assert (tmp_path / f"classifier-{tiny.digest()}.json").is_file()
    assert list(tmp_path.glob("embeddings-*.npz"))

    def no_fit(*a, **k):
        raise AssertionError("refitted although a cached fit matches")
    monkeypatch.setattr(classifier, "fit", no_fit)
    again = classifier.load_or_fit(tmp_path, shipped=tmp_path / "none.json")
    assert again.digest == first.digest and np.allclose(again.w, first.w)
    changed = _tiny(data, " (edited)")
    monkeypatch.setattr(classifier, "dataset", lambda: changed)
    assert changed.digest() != tiny.digest()
    with pytest.raises(AssertionError, match="refitted"):  # a changed corpus never reuses the old fit
        classifier.load_or_fit(tmp_path, shipped=tmp_path / "none.json")


def test_embeddings_come_back_from_the_disk_cache(tmp_path, monkeypatch):
    texts = ["a first cached sentence", "a second cached sentence"]
    e = classifier.embed(texts, tmp_path)
    for t in texts:
        classifier._CACHE.pop(t)
    monkeypatch.setattr(encoder.model(), "encode", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-embedded")))
    np.testing.assert_array_equal(classifier.embed(texts, tmp_path), e)


def test_the_shipped_classifier_is_current_and_holds_up_on_the_test_set(data):
    shipped = json.loads(classifier.SHIPPED.read_text())
    assert shipped["digest"] == data.digest(), "the corpus or encoder changed: run `python -m labs.lab12_safety.classifier --ship`"
    clf = classifier.load_or_fit(None)
    assert clf.digest == shipped["digest"] and clf.validation["recall_harm"] >= 0.99
    # test set: hand-written look-alikes and red-team probes it never saw
    fp = (clf.score([p.text for p in benign()]) >= clf.threshold).mean()
    harm = [p.text for p in generate(FAMILIES, 8, TEST_SEED) if p.goal == "harm"]
    # measured (bench): 0.07 of look-alikes refused (0.73 before look-alikes were trained on) and 0.73 of
    # harmful requests caught where validation promised 1.0: its 19 harmful requests are too few for a 1% target
    assert fp <= 0.15 and (clf.score(harm) >= clf.threshold).mean() >= 0.6
