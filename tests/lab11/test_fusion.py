import pytest
import torch

from labs.lab11_multimodal import data, fusion


@pytest.fixture(scope="module")
def task():
    q = fusion.fit_quantiser(16)
    return fusion.make_task(data.digits().test[:40], q, 0)


@pytest.mark.parametrize("family", fusion.FAMILIES)
def test_each_family_answers_yes_or_no(family, task):
    model = fusion.build(family, 16)
    out = model(task.patches, task.ids, task.codes)
    assert out.shape == (40, 2) and torch.isfinite(out).all()
    assert fusion.n_params(model) == sum(p.numel() for p in model.parameters()) > 1000


def test_task_is_balanced_and_codes_in_range(task):
    assert 0.3 < task.y.float().mean() < 0.7
    assert task.codes.min() >= 0 and task.codes.max() < 16


def test_late_fusion_learns_the_task():
    rows = {r["family"]: r for r in fusion.compare(200, ("late",), codebook=16)}
    assert rows["late"]["test_accuracy"] > 0.7

