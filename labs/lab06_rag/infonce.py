"""InfoNCE, the contrastive loss with in-batch negatives that bi-encoders are trained with.

    python -m labs.lab06_rag.exercises      # "infonce": the loss on a hand batch, as the positive moves and τ changes

For a batch of B queries q_i, each with its positive p_i, and the candidate set d_1..d_N made of all
B in-batch positives followed by any hard negatives (m per query, so N = B + B·m):

    L = −(1/B) Σ_i log( exp(s(q_i, p_i)/τ) / Σ_j exp(s(q_i, d_j)/τ) )

with s the cosine similarity. It is a cross-entropy over the score matrix S_ij = s(q_i, d_j)/τ whose
correct "class" for row i is column i: every other query's positive is a free negative for q_i
(so a bigger batch gives more negatives at no extra encoding cost), and a mined hard negative is a
document that looks relevant and is not. sentence-transformers calls 1/τ the `scale` (20, so
τ = 0.05): cosines live in [−1, 1], and without the scale the softmax over them would be nearly flat.

`mask` leaves candidates out of row i's denominator: a document that is relevant to q_i but is not its
p_i (another query's positive about the same feature) is a false negative, and pushing it away would
teach the model the wrong thing. MultipleNegativesRankingLoss has no such mask; with none the two agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SCALE = 20.0  # 1/τ, sentence-transformers' default for MultipleNegativesRankingLoss


def score_matrix(q: torch.Tensor, p: torch.Tensor, negatives: torch.Tensor | None = None,
                 scale: float = SCALE) -> torch.Tensor:
    """S (B × N): scaled cosine of each query with every candidate; columns 0..B−1 are the positives, then
    the hard negatives query by query (B·m columns for negatives of shape B × m × dim)."""
    if scale <= 0:
        raise ValueError("scale (1/τ) must be positive")
    d = p if negatives is None else torch.cat([p, negatives.reshape(-1, p.shape[-1])], dim=0)
    return scale * F.normalize(q, dim=-1) @ F.normalize(d, dim=-1).T


def infonce(q: torch.Tensor, p: torch.Tensor, negatives: torch.Tensor | None = None, scale: float = SCALE,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """The mean InfoNCE loss of queries q (B × dim) against positives p (B × dim), in-batch negatives and
    optional hard negatives (B × m × dim). `mask` (B × N bool, True = leave out) must not hide row i's
    own positive, column i."""
    S = score_matrix(q, p, negatives, scale)
    B = S.shape[0]
    rows = torch.arange(B, device=S.device)
    if mask is not None:
        if mask[rows, rows].any():
            raise ValueError("mask hides a query's own positive")
        S = S.masked_fill(mask, float("-inf"))
    # log of the softmax's correct entry, written out: S_ii − log Σ_j exp(S_ij) (logsumexp keeps it finite)
    log_p = S[rows, rows] - torch.logsumexp(S, dim=1)
    return -log_p.mean()
