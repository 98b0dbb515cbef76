"""InfoNCE from its formula equals sentence-transformers' MultipleNegativesRankingLoss and a plain
cross-entropy over the score matrix: value and gradient, on seeded random embedding batches."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from labs.lab06_rag.infonce import infonce, score_matrix

CASES = list(itertools.product([1, 3, 8, 17], [0, 1, 3], [1.0, 20.0, 50.0]))  # batch, hard negatives per query, 1/τ


def batch(B: int, m: int, dim: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed * 1000 + B * 10 + m)
    q, p = torch.randn(B, dim, generator=g), torch.randn(B, dim, generator=g)
    p = p + 0.8 * q  # positives a little closer than chance, as after some training
    negatives = torch.randn(B, m, dim, generator=g) if m else None
    return q, p, negatives


def grads(loss_fn, *tensors):
    leaves = [t.clone().double().requires_grad_(True) if t is not None else None for t in tensors]
    loss = loss_fn(*leaves)
    loss.backward()
    return loss.detach(), [t.grad for t in leaves if t is not None]


@pytest.mark.parametrize("B,m,scale", CASES)
def test_equals_multiple_negatives_ranking_loss(B, m, scale):
    q, p, negatives = batch(B, m)
    ours, ours_grad = grads(lambda q, p, n: infonce(q, p, n, scale=scale), q, p, negatives)
    # the library's own computation on precomputed embeddings: columns anchor, positive, negative_1..m
    mnrl = MultipleNegativesRankingLoss(model=None, scale=scale)

    def library(q, p, n):
        columns = [q, p] + ([n[:, k, :] for k in range(m)] if m else [])
        return mnrl.compute_loss_from_embeddings(columns, labels=None)

    theirs, theirs_grad = grads(library, q, p, negatives)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    for a, b in zip(ours_grad, theirs_grad, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("B,m,scale", CASES[::2])
def test_equals_cross_entropy_on_the_score_matrix(B, m, scale):
    q, p, negatives = batch(B, m, seed=1)
    ours, ours_grad = grads(lambda q, p, n: infonce(q, p, n, scale=scale), q, p, negatives)

    def reference(q, p, n):
        d = p if n is None else torch.cat([p, n.reshape(-1, p.shape[1])])
        logits = scale * F.cosine_similarity(q[:, None, :], d[None, :, :], dim=-1)
        return F.cross_entropy(logits, torch.arange(B))

    theirs, theirs_grad = grads(reference, q, p, negatives)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    for a, b in zip(ours_grad, theirs_grad, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_mask_drops_false_negatives_from_the_denominator(seed):
    B, m = 6, 2
    q, p, negatives = batch(B, m, seed=seed)
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(B, B + B * m, generator=g) < 0.3
    mask[torch.arange(B), torch.arange(B)] = False
    S = score_matrix(q.double(), p.double(), negatives.double())
    reference = F.cross_entropy(S.masked_fill(mask, float("-inf")), torch.arange(B))
    torch.testing.assert_close(infonce(q.double(), p.double(), negatives.double(), mask=mask), reference)
    # row by row: the same log-softmax taken over only the candidates the mask keeps
    by_row = [-(S[i, i] - torch.logsumexp(S[i][~mask[i]], dim=0)) for i in range(B)]
    torch.testing.assert_close(reference, torch.stack(by_row).mean())


def test_loss_falls_as_the_positive_gets_closer_and_bad_input_is_refused():
    q, p, negatives = batch(4, 1)
    losses = [infonce(q, (1 - a) * p + a * q, negatives).item() for a in (0.0, 0.5, 0.9)]
    assert losses[0] > losses[1] > losses[2]
    with pytest.raises(ValueError):
        infonce(q, p, negatives, scale=0.0)
    with pytest.raises(ValueError):
        infonce(q, p, negatives, mask=torch.eye(4, 8, dtype=torch.bool))
