"""Multimodal evaluation: FID in a digits classifier's feature space, CLIP score, POPE probing.

    python -m labs.lab11_multimodal.eval          # FID real/real, samples, noise; a POPE table
    curl -s localhost:8011/eval/pope -d '{"sampling": "adversarial"}'

    FID = || mu_r - mu_g ||^2 + Tr( S_r + S_g - 2 (S_r S_g)^(1/2) )     (Frechet distance of two Gaussians)
    CLIP score = 100 * max(cos(image, text), 0)
    POPE: yes/no "Is there a <object> in the image?" for present objects and for absent ones drawn
          at random, by popularity, or by co-occurrence with what is present (adversarial);
          accuracy, precision, recall, F1 and the yes-ratio.

Inception features mean nothing for 8x8 digits, so FID here uses the penultimate layer of a small
digits classifier trained below: the same formula, in a feature space that knows what a digit is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labs.lab11_multimodal import data, diffusion

# --- the feature network and FID -----------------------------------------------------------------


class DigitClassifier(nn.Module):
    def __init__(self, hidden: int = 64, features: int = 32):
        super().__init__()
        # features are taken before the last ReLU: dead ReLU units would make the covariance singular
        self.body = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, features))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(features, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        return self.body(torch.as_tensor(images.reshape(len(images), 64), dtype=torch.float32)).double().numpy()

    @torch.no_grad()
    def predict(self, images: np.ndarray) -> np.ndarray:
        return self(torch.as_tensor(images.reshape(len(images), 64), dtype=torch.float32)).argmax(-1).numpy()


def train_classifier(epochs: int = 40, seed: int = 0) -> tuple[DigitClassifier, float]:
    torch.manual_seed(seed)
    d = data.digits()
    x = torch.as_tensor(d.images[d.train].reshape(-1, 64))
    y = torch.as_tensor(d.labels[d.train])
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(128):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    acc = float((model.predict(d.images[d.test]) == d.labels[d.test]).mean())
    return model, acc


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(0), np.cov(features, rowvar=False)


def psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix via its eigendecomposition (tiny negative eigenvalues -> 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2): the same eigenvalues, but the right-hand
    matrix is symmetric PSD, so no complex round-off appears (pytorch-fid uses scipy's general sqrtm)."""
    r1 = psd_sqrt(s1)
    tr_covmean = np.trace(psd_sqrt(r1 @ s2 @ r1))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid(classifier: DigitClassifier, real: np.ndarray, generated: np.ndarray) -> float:
    return frechet_distance(*gaussian_stats(classifier.features(real)), *gaussian_stats(classifier.features(generated)))


def clip_score(image_emb: torch.Tensor, text_emb: torch.Tensor) -> np.ndarray:
    """Per pair (row i with row i): 100 * max(cos, 0)."""
    cos = F.cosine_similarity(image_emb, text_emb, dim=-1)
    return (100 * cos.clamp(min=0)).detach().numpy()


def guidance_sweep(ddpm: diffusion.NoisePredictor, classifier: DigitClassifier,
                   scales: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 7.0), n: int = 300, seed: int = 0) -> list[dict]:
    """Classifier-free guidance: w trades diversity (FID) for adherence to the class (accuracy)."""
    d = data.digits()
    real = d.images[np.random.default_rng(seed).choice(d.train, n, replace=False)]
    labels = np.arange(n) % 10
    rows = []
    for w in scales:
        samples = diffusion.sample(ddpm, labels, w, seed)
        rows.append({"guidance": w, "class_accuracy": round(float((classifier.predict(samples) == labels).mean()), 4),
                     "fid": round(fid(classifier, real, samples), 2),
                     "pixel_std": round(float(samples.std(0).mean()), 4)})
    return rows


# --- POPE on a mock vision-language answerer -------------------------------------------------------

OBJECTS = {  # scene -> objects that occur in it, most typical first
    "kitchen": ["cup", "plate", "fork", "knife", "bowl", "oven", "sink", "bottle"],
    "street": ["car", "person", "traffic light", "bicycle", "bus", "dog", "bench", "bottle"],
    "living room": ["couch", "tv", "person", "book", "cup", "remote", "dog", "cat"],
    "park": ["person", "dog", "bench", "bicycle", "frisbee", "kite", "bird", "bottle"],
}
VOCAB = sorted({o for objs in OBJECTS.values() for o in objs})


def scenes(n: int = 200, seed: int = 0) -> list[set[str]]:
    """Synthetic annotated images: a scene type, then 2-5 of its objects, typical ones more often."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        objs = OBJECTS[list(OBJECTS)[rng.integers(len(OBJECTS))]]
        weights = 1 / np.arange(1, len(objs) + 1)
        k = int(rng.integers(2, 6))
        out.append(set(rng.choice(objs, size=k, replace=False, p=weights / weights.sum()).tolist()))
    return out


def cooccurrence(images: list[set[str]]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    freq = {o: 0 for o in VOCAB}
    pairs: dict[tuple[str, str], int] = {}
    for objs in images:
        for a in objs:
            freq[a] += 1
            for b in objs:
                if a != b:
                    pairs[a, b] = pairs.get((a, b), 0) + 1
    return freq, pairs


def questions(images: list[set[str]], sampling: str, per_image: int = 3, seed: int = 0) -> list[tuple[int, str, bool]]:
    """POPE's probe set: per image, `per_image` present objects (yes) and as many absent ones (no)."""
    rng = np.random.default_rng(seed)
    freq, pairs = cooccurrence(images)
    by_popularity = sorted(VOCAB, key=lambda o: (-freq[o], o))
    out = []
    for i, objs in enumerate(images):
        present = sorted(objs)
        absent = [o for o in VOCAB if o not in objs]
        k = min(per_image, len(present))
        for o in rng.choice(present, size=k, replace=False):
            out.append((i, str(o), True))
        if sampling == "random":
            negs = rng.choice(absent, size=k, replace=False).tolist()
        elif sampling == "popular":
            negs = [o for o in by_popularity if o in absent][:k]
        elif sampling == "adversarial":
            score = {o: sum(pairs.get((p, o), 0) for p in objs) for o in absent}
            negs = sorted(absent, key=lambda o: (-score[o], o))[:k]
        else:
            raise ValueError(f"unknown sampling {sampling!r}")
        out += [(i, o, False) for o in negs]
    return out


@dataclass(frozen=True)
class MockVLM:
    """A yes/no answerer with the three root causes of object hallucination as knobs.

    - grounding: chance the vision side notices a present object (low resolution, small objects);
    - prior: weight of the language prior, P(object | the objects it did see), learned from captions;
    - yes_bias: agreement bias, added to every "yes" score (instruction data is mostly "yes").
    It answers yes when the evidence (1 if seen, else 0) plus prior plus bias clears 0.5.
    """

    grounding: float = 0.9
    prior: float = 0.8
    yes_bias: float = 0.1
    seed: int = 0

    def answer(self, images: list[set[str]], probes: list[tuple[int, str, bool]]) -> list[bool]:
        rng = np.random.default_rng(self.seed)
        freq, pairs = cooccurrence(images)
        seen = [{o for o in sorted(objs) if rng.random() < self.grounding} for objs in images]
        out = []
        for i, obj, _ in probes:
            evidence = 1.0 if obj in seen[i] else 0.0
            context = seen[i] - {obj}
            p_prior = max((pairs.get((c, obj), 0) / freq[c] for c in context), default=0.0)
            out.append(evidence + self.prior * p_prior + self.yes_bias + rng.normal(0, 0.05) > 0.5)
        return out


def pope_metrics(probes: list[tuple[int, str, bool]], answers: list[bool]) -> dict[str, float]:
    truth = np.array([p[2] for p in probes])
    said = np.array(answers)
    tp = int((truth & said).sum())
    fp = int((~truth & said).sum())
    fn = int((truth & ~said).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"n": len(probes), "accuracy": round(float((truth == said).mean()), 4),
            "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
            "yes_ratio": round(float(said.mean()), 4)}


def pope(vlm: MockVLM, sampling: str, n_images: int = 200, seed: int = 0) -> dict[str, float]:
    images = scenes(n_images, seed)
    probes = questions(images, sampling, seed=seed)
    return pope_metrics(probes, vlm.answer(images, probes))


if __name__ == "__main__":
    torch.set_num_threads(1)
    for sampling in ("random", "popular", "adversarial"):
        print(sampling, pope(MockVLM(), sampling))
    clf, acc = train_classifier()
    d = data.digits()
    print(f"classifier test accuracy {acc:.3f}")
    real_a, real_b = d.images[d.train[:700]], d.images[d.train[700:1400]]
    noise = np.random.default_rng(0).random((700, 8, 8))
    print(f"FID real/real {fid(clf, real_a, real_b):.2f}, real/noise {fid(clf, real_a, noise):.1f}")
