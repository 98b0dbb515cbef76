"""The four fusion families as small modules, trained side by side on one toy question-answering task.

    python -m labs.lab11_multimodal.fusion        # parameters and held-out accuracy of each family
    curl -s localhost:8011/fusion/compare -d '{"steps": 150}'

The task: an 8x8 digit and a question "is it a seven" (or "is this the digit 7") -> yes / no, half
of the questions true. Every family sees the same 4 patches and the same words:

    late            encode image and text apart; combine the two vectors only at the head ([u, v, u*v])
    cross-attention text tokens are queries over the image patch tokens (Flamingo, LLaVA-style resampler)
    early           one transformer over [image patch tokens ; word tokens] with modality embeddings
    native          image patches quantised to codebook ids that share one vocabulary (and one
                    embedding table) with the words: one token stream, as Chameleon-style models do
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from torch import nn

from labs.lab11_multimodal import data
from labs.lab11_multimodal.vit import patchify

DIM = 32
QUESTIONS = ["is it a {word}", "is this the digit {num}", "does it show {word}"]
FAMILIES = ("late", "cross_attention", "early", "native")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _block() -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(DIM, 2, 2 * DIM, dropout=0.0, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)


def _pool(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.float()[..., None]
    return (h * m).sum(1) / m.sum(1).clamp(min=1)


class Late(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = nn.Sequential(nn.Linear(64, 64), nn.GELU(), nn.Linear(64, DIM))
        self.words = nn.Embedding(len(data.VOCAB), DIM, padding_idx=0)
        self.head = nn.Sequential(nn.Linear(3 * DIM, DIM), nn.GELU(), nn.Linear(DIM, 2))

    def forward(self, patches, ids, codes):
        u = self.image(patches.flatten(1))
        v = _pool(self.words(ids), ids != 0)
        return self.head(torch.cat([u, v, u * v], -1))


class CrossAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(16, DIM)
        self.pos = nn.Parameter(torch.randn(4, DIM) * 0.02)
        self.words = nn.Embedding(len(data.VOCAB), DIM, padding_idx=0)
        self.attn = nn.MultiheadAttention(DIM, 2, batch_first=True)
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Sequential(nn.Linear(DIM, DIM), nn.GELU(), nn.Linear(DIM, 2))

    def forward(self, patches, ids, codes):
        img = self.patch(patches) + self.pos
        q = self.words(ids)
        mixed, _ = self.attn(q, img, img)                  # each word looks at the image
        return self.head(_pool(self.norm(q + mixed), ids != 0))


class Early(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(16, DIM)
        self.words = nn.Embedding(len(data.VOCAB), DIM, padding_idx=0)
        self.modality = nn.Embedding(2, DIM)
        self.pos = nn.Parameter(torch.randn(4 + data.MAX_TOKENS, DIM) * 0.02)
        self.block = _block()
        self.head = nn.Linear(DIM, 2)

    def forward(self, patches, ids, codes):
        img = self.patch(patches) + self.modality.weight[0]
        txt = self.words(ids) + self.modality.weight[1]
        h = self.block(torch.cat([img, txt], 1) + self.pos)
        mask = torch.cat([torch.ones(len(ids), 4, dtype=torch.bool), ids != 0], 1)
        return self.head(_pool(h, mask))


class Native(nn.Module):
    """One embedding table: word ids first, then image codebook ids offset by the word vocabulary."""

    def __init__(self, codebook: int):
        super().__init__()
        self.tokens = nn.Embedding(len(data.VOCAB) + codebook, DIM, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(4 + data.MAX_TOKENS, DIM) * 0.02)
        self.block = _block()
        self.head = nn.Linear(DIM, 2)

    def forward(self, patches, ids, codes):
        stream = torch.cat([codes + len(data.VOCAB), ids], 1)
        h = self.block(self.tokens(stream) + self.pos)
        return self.head(_pool(h, stream != 0))


@dataclass
class Task:
    patches: torch.Tensor   # (n, 4, 16)
    ids: torch.Tensor       # (n, MAX_TOKENS)
    codes: torch.Tensor     # (n, 4) codebook ids
    y: torch.Tensor         # (n,) 1 = yes


def make_task(indices: np.ndarray, quantiser: KMeans, seed: int) -> Task:
    rng = np.random.default_rng(seed)
    d = data.digits()
    labels = d.labels[indices]
    asked = np.where(rng.random(len(indices)) < 0.5, labels, (labels + rng.integers(1, 10, len(labels))) % 10)
    texts = [QUESTIONS[rng.integers(len(QUESTIONS))].format(word=data.WORDS[a], num=a) for a in asked]
    patches = patchify(torch.as_tensor(d.images[indices])[:, None], 4)
    codes = quantiser.predict(patches.reshape(-1, 16).numpy().astype(np.float64)).reshape(len(indices), 4)
    return Task(patches, torch.from_numpy(data.tokenize(texts)), torch.as_tensor(codes, dtype=torch.long),
                torch.as_tensor((asked == labels).astype(np.int64)))


def fit_quantiser(codebook: int = 64, seed: int = 0) -> KMeans:
    d = data.digits()
    patches = patchify(torch.as_tensor(d.images[d.train])[:, None], 4).reshape(-1, 16).numpy().astype(np.float64)
    return KMeans(codebook, n_init=1, random_state=seed).fit(patches)


def build(family: str, codebook: int = 64) -> nn.Module:
    return {"late": Late, "cross_attention": CrossAttention, "early": Early,
            "native": lambda: Native(codebook)}[family]()


def compare(steps: int = 300, families: tuple[str, ...] = FAMILIES, seed: int = 0, codebook: int = 64) -> list[dict]:
    """Train each family for `steps` Adam steps of 64 questions; held-out accuracy on the test digits."""
    d = data.digits()
    quantiser = fit_quantiser(codebook, seed)
    train_t, test_t = make_task(d.train, quantiser, seed), make_task(d.test, quantiser, seed + 1)
    rows = []
    for family in families:
        torch.manual_seed(seed)
        model = build(family, codebook)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            idx = torch.randint(0, len(train_t.y), (64,), generator=gen)
            loss = F.cross_entropy(model(train_t.patches[idx], train_t.ids[idx], train_t.codes[idx]), train_t.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(test_t.patches, test_t.ids, test_t.codes).argmax(-1)
        rows.append({"family": family, "params": n_params(model), "steps": steps,
                     "test_accuracy": round(float((pred == test_t.y).float().mean()), 4)})
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    for row in compare(int(sys.argv[1]) if len(sys.argv) > 1 else 300):
        print(row)
