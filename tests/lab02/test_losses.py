"""Cross-entropy with log-sum-exp against torch on random logits, including huge ones."""

import torch
import torch.nn.functional as F

from labs.lab02_pytorch import losses


def test_cross_entropy_matches_torch_on_random_logits():
    g = torch.Generator().manual_seed(0)
    for scale in (0.1, 1.0, 10.0, 1000.0):
        for _ in range(20):
            n, c = int(torch.randint(1, 50, (1,), generator=g)), int(torch.randint(2, 20, (1,), generator=g))
            z = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
            y = torch.randint(0, c, (n,), generator=g)
            assert torch.allclose(losses.cross_entropy(z, y), F.cross_entropy(z, y), rtol=1e-12, atol=1e-12)


def test_logsumexp_matches_torch():
    z = torch.randn(7, 9, generator=torch.Generator().manual_seed(1)) * 300
    assert torch.allclose(losses.logsumexp(z, 1), torch.logsumexp(z, 1))
    assert torch.allclose(losses.logsumexp(z, 0), torch.logsumexp(z, 0))


def test_naive_form_overflows_where_the_stable_one_does_not():
    z, y = torch.tensor([[1000.0, 1001.0, 1002.0]]), torch.tensor([2])
    assert not torch.isfinite(losses.naive_cross_entropy(z, y))
    assert abs(losses.cross_entropy(z, y).item() - F.cross_entropy(z, y).item()) < 1e-6
    small = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.allclose(losses.naive_cross_entropy(small, y), F.cross_entropy(small, y))
