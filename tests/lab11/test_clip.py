import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labs.lab11_multimodal import clip, data


def reference_loss(u, v, t):
    """The textbook form: cross-entropy of scaled cosine logits, rows and columns, averaged."""
    logits = t.exp() * F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T
    target = torch.arange(len(u))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


@pytest.mark.parametrize("seed", range(6))
def test_clip_loss_matches_cross_entropy_reference(seed):
    g = torch.Generator().manual_seed(seed)
    n, d = [(2, 3), (4, 8), (16, 32), (7, 5), (32, 16), (3, 64)][seed]
    u, v = torch.randn(n, d, generator=g) * 3, torch.randn(n, d, generator=g)
    t = torch.tensor(math.log(1 / 0.07)) + torch.randn((), generator=g)
    torch.testing.assert_close(clip.clip_loss(u, v, t), reference_loss(u, v, t.clamp(max=math.log(100))))


def test_clip_loss_gradients_match_the_reference():
    u = torch.randn(8, 4, requires_grad=True)
    v = torch.randn(8, 4, requires_grad=True)
    t = torch.tensor(2.0, requires_grad=True)
    ours = torch.autograd.grad(clip.clip_loss(u, v, t), (u, v, t))
    ref = torch.autograd.grad(reference_loss(u, v, t), (u, v, t))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_perfect_pairs_have_low_loss_and_swapped_pairs_high():
    u = torch.eye(6)
    t = torch.tensor(math.log(100.0))
    assert clip.clip_loss(u, u, t) < 0.01
    assert clip.clip_loss(u, u.roll(1, 0), t) > 5


def test_temperature_starts_at_log_one_over_0_07():
    assert clip.CLIP().log_scale.item() == pytest.approx(math.log(1 / 0.07))


def test_batch_loss_is_clip_loss_when_labels_are_distinct():
    torch.manual_seed(0)
    model = clip.CLIP()
    d = data.digits()
    idx = [int(np.flatnonzero(d.labels == k)[0]) for k in range(10)]
    texts = [data.caption(int(d.labels[i]), 0, 0) for i in idx]
    u = model.image(torch.as_tensor(d.images[idx]))
    v = model.text(torch.from_numpy(data.tokenize(texts)))
    torch.testing.assert_close(clip.batch_loss(model, d.images[idx], texts, d.labels[idx]),
                               clip.clip_loss(u, v, model.log_scale))


def test_tokenize_pads_and_marks_unknown_words():
    ids = data.tokenize(["a photo of the digit 7", "zebra"])
    assert ids.shape == (2, data.MAX_TOKENS)
    assert ids[0, 5] == data.STOI["7"] and ids[1, 0] == 1 and ids[1, 1] == 0


def test_starter_model_learned_zero_shot(models):
    """The start-up model (4 epochs) is far above chance (0.1) on held-out digits."""
    assert clip.zero_shot_accuracy(models.clip, data.digits().test) > 0.6


def test_training_improves_zero_shot():
    model, history = clip.train(clip.Config(epochs=2, seed=1))
    assert history[-1]["zero_shot_acc"] > history[0]["zero_shot_acc"] + 0.15
    assert history[-1]["loss"] < history[1]["loss"] + 1e-9


def test_search_ranks_by_cosine(models):
    d = data.digits()
    hits = clip.search(models.clip, "a handwritten seven", d.test, 10)
    sims = [s for _, s in hits]
    assert sims == sorted(sims, reverse=True)
    assert np.mean([d.labels[i] == 7 for i, _ in hits]) >= 0.6


def test_save_and_load_round_trip(tmp_path, models):
    clip.save(models.clip, tmp_path / "c.pt")
    again = clip.load(tmp_path / "c.pt")
    x = data.digits().images[:5]
    torch.testing.assert_close(again.encode_images(x), models.clip.encode_images(x))
