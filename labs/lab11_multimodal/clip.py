"""A tiny CLIP trained on digits: a ViT image encoder, a bag-of-words text encoder, the symmetric loss.

    python -m labs.lab11_multimodal.clip          # trains for 30 epochs and prints zero-shot accuracy
    curl -s localhost:8011/clip/classify -d '{"index": 0}'

For a batch of N matching (image, text) pairs with unit embeddings u_i (images), v_j (texts):

    logits_ij = exp(t) * u_i . v_j                  t learnable, initialised at log(1 / 0.07)
    L = ( CE(logits, diag) + CE(logits^T, diag) ) / 2

Each image must pick its own caption among the N, and each caption its own image. Zero-shot
classification embeds one prompt per class ("a photo of the digit three") and picks the nearest.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labs.lab11_multimodal import data
from labs.lab11_multimodal.vit import PatchEmbed


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE, written out (log-softmax by hand) so every step is visible."""
    u = image_emb / image_emb.norm(dim=-1, keepdim=True)
    v = text_emb / text_emb.norm(dim=-1, keepdim=True)
    # CLIP clamps the scale at 100 so the softmax cannot become a hard argmax and stall training
    scale = log_scale.clamp(max=math.log(100.0)).exp()
    logits = scale * u @ v.T                                        # (N, N), row i = image i
    diag = torch.arange(len(logits))
    log_p_text = logits - logits.logsumexp(dim=1, keepdim=True)     # image -> which caption
    log_p_image = logits - logits.logsumexp(dim=0, keepdim=True)    # caption -> which image
    loss_i = -log_p_text[diag, diag].mean()
    loss_t = -log_p_image[diag, diag].mean()
    return (loss_i + loss_t) / 2


@dataclass
class Config:
    dim: int = 32
    embed: int = 32
    patch: int = 4
    heads: int = 2
    depth: int = 1
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0


class ImageEncoder(nn.Module):
    """A one-block ViT: 8x8 image -> 4 patches + CLS -> transformer -> CLS -> projection."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.embed = PatchEmbed(8, cfg.patch, 1, cfg.dim)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 2 * cfg.dim, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.embed, bias=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.embed(images[:, None]))
        return self.proj(self.norm(h[:, 0]))


class TextEncoder(nn.Module):
    """Word embeddings + positions, mean over the real tokens, an MLP, a projection."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.tok = nn.Embedding(len(data.VOCAB), cfg.dim, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(data.MAX_TOKENS, cfg.dim) * 0.02)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, 2 * cfg.dim), nn.GELU(), nn.Linear(2 * cfg.dim, cfg.dim))
        self.proj = nn.Linear(cfg.dim, cfg.embed, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).float()[..., None]
        h = (self.tok(ids) + self.pos) * mask
        pooled = h.sum(1) / mask.sum(1).clamp(min=1)
        return self.proj(pooled + self.mlp(pooled))


class CLIP(nn.Module):
    def __init__(self, cfg: Config | None = None):
        super().__init__()
        self.cfg = cfg or Config()
        self.image = ImageEncoder(self.cfg)
        self.text = TextEncoder(self.cfg)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_images(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(torch.as_tensor(images, dtype=torch.float32)), dim=-1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return F.normalize(self.text(torch.from_numpy(data.tokenize(texts))), dim=-1)

    @torch.no_grad()
    def zero_shot(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (softmax over the ten prompts at the learned scale) and predictions."""
        self.eval()
        logits = self.log_scale.exp() * self.encode_images(images) @ self.encode_texts(data.prompts()).T
        probs = logits.softmax(-1).numpy()
        return probs, probs.argmax(-1)


def zero_shot_accuracy(model: CLIP, indices: np.ndarray) -> float:
    d = data.digits()
    _, pred = model.zero_shot(d.images[indices])
    return float((pred == d.labels[indices]).mean())


Progress = Callable[[int, int, dict], None]


def train(cfg: Config, progress: Progress | None = None) -> tuple[CLIP, list[dict]]:
    """Each epoch: every training image once, each with a caption drawn from a random template."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    d = data.digits()
    model = CLIP(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(d.train) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.1)
    history = [{"epoch": 0, "loss": None, "zero_shot_acc": zero_shot_accuracy(model, d.test),
                "scale": round(model.log_scale.exp().item(), 2)}]
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = rng.permutation(d.train)
        losses = []
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start: start + cfg.batch_size]
            templates = rng.integers(0, len(data.TEMPLATES), len(idx))
            texts = [data.caption(int(d.labels[i]), int(d.ink[i]), int(t)) for i, t in zip(idx, templates, strict=True)]
            loss = batch_loss(model, d.images[idx], texts, d.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        row = {"epoch": epoch, "loss": round(float(np.mean(losses)), 4),
               "zero_shot_acc": round(zero_shot_accuracy(model, d.test), 4),
               "scale": round(model.log_scale.exp().item(), 2)}
        history.append(row)
        if progress:
            progress(epoch, cfg.epochs, row)
    model.eval()
    return model, history


def batch_loss(model: CLIP, images: np.ndarray, texts: list[str], labels: np.ndarray) -> torch.Tensor:
    """The CLIP loss, with one twist for a 10-class world: pairs of the same digit are not negatives.

    With 128 images and 10 digits, most "negatives" show the same digit as the positive; pushing
    them apart fights the label. Averaging the targets over same-label pairs (as SigLIP-style and
    supervised-contrastive variants do) keeps the loss honest. With all labels distinct it is
    exactly `clip_loss`.
    """
    u = model.image(torch.as_tensor(images, dtype=torch.float32))
    v = model.text(torch.from_numpy(data.tokenize(texts)))
    lab = torch.as_tensor(labels)
    same = (lab[:, None] == lab[None, :]).float()
    if torch.equal(same, torch.eye(len(lab))):
        return clip_loss(u, v, model.log_scale)
    u, v = F.normalize(u, dim=-1), F.normalize(v, dim=-1)
    logits = model.log_scale.clamp(max=math.log(100.0)).exp() * u @ v.T
    target = same / same.sum(1, keepdim=True)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def save(model: CLIP, path) -> None:
    torch.save({"config": asdict(model.cfg), "state": model.state_dict()}, path)


def load(path) -> CLIP:
    blob = torch.load(path, weights_only=True)
    model = CLIP(Config(**blob["config"]))
    model.load_state_dict(blob["state"])
    return model.eval()


@torch.no_grad()
def search(model: CLIP, text: str, indices: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Text -> image retrieval: cosine of the text embedding with every image embedding, top k."""
    d = data.digits()
    sims = (model.encode_images(d.images[indices]) @ model.encode_texts([text]).T)[:, 0].numpy()
    top = np.argsort(-sims, kind="stable")[:k]
    return [(int(indices[i]), float(sims[i])) for i in top]


if __name__ == "__main__":
    torch.set_num_threads(1)
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    t0 = time.perf_counter()
    _, hist = train(Config(epochs=epochs), lambda e, n, r: print(f"epoch {e}/{n}: {r}"))
    print(f"zero-shot accuracy {hist[0]['zero_shot_acc']:.2f} -> {hist[-1]['zero_shot_acc']:.2f} "
          f"in {time.perf_counter() - t0:.1f} s")
