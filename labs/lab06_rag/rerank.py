"""Cross-encoder reranking: a small reranker trained here from the local MiniLM weights.

    python -m labs.lab06_rag.rerank            # trains (or loads) it, then prints its held-out effect

A bi-encoder embeds query and document apart and compares vectors; a cross-encoder reads the pair
together and outputs one relevance logit, which is slower (one forward pass per candidate) and more
accurate, so it reorders only the top candidates. No reranker ships offline, so this one starts from
all-MiniLM-L6-v2 with a fresh 1-logit head and is trained with binary cross-entropy

    L = −[y·log σ(s) + (1 − y)·log(1 − σ(s))]

on pairs from the fixture: (question, gold document) → 1, (question, the same feature's other
version) → 0.5, (question, a BM25 hard negative or a random document) → 0; plus, for every feature and
version, the document's own wording as a query (gold 1, another version 0.5, a random document 0). Training uses the even-numbered features; the odd ones are held out.
Any other reranker (a local folder or a hub id, where reachable) is one setting away: RERANKER_PATH.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from labs.lab06_rag.corpus import FEATURES, PRODUCT, VERSIONS, load

SUBDIR = "reranker"


def training_pairs(seed: int = 0, hard: int = 3, easy: int = 3) -> list[tuple[str, str, float]]:
    """(question, document, label): label = grade / 2, so another version of the answer is 0.5, and
    negatives are BM25's best non-relevant documents (hard) plus random other ones (easy)."""
    from labs.lab06_rag.bm25 import BM25, tokenize

    rng = random.Random(seed)
    docs = load("corpus")
    text = {d["id"]: f"{d['title']}. {d['text']}" for d in docs}
    bm = BM25([tokenize(text[d["id"]]) for d in docs])
    pairs = []
    for q in load("eval"):
        if not q["relevant"] or not held_in(q):
            continue
        pairs += [(q["question"], text[d], g / 2) for d, g in q["relevant"].items()]
        idx, _ = bm.top_k(tokenize(q["question"]), 20)
        negatives = [docs[i]["id"] for i in idx if docs[i]["id"] not in q["relevant"]][:hard]
        negatives += rng.sample([d for d in text if d not in q["relevant"] and d not in negatives], easy)
        pairs += [(q["question"], text[d], 0.0) for d in negatives]
    # documents' own phrasing as queries, for every feature: teaches topic and version matching on the
    # corpus without showing the held-out questions' paraphrases
    for fi, feat in enumerate(FEATURES):
        for vi, version in enumerate(VERSIONS):
            query = f"What is the {feat[1]} for {feat[0]} in {PRODUCT} {version}?"
            pairs.append((query, text[f"kb-{fi:02d}-v{vi}"], 1.0))
            pairs.append((query, text[f"kb-{fi:02d}-v{(vi + 1) % len(VERSIONS)}"], 0.5))
            pairs.append((query, text[rng.choice([d for d in text if not d.startswith(f"kb-{fi:02d}")])], 0.0))
    rng.shuffle(pairs)
    return pairs


def held_in(q: dict) -> bool:
    """Even-numbered features train; odd-numbered ones are held out for measuring."""
    return int(q["id"].rsplit("-", 1)[1]) % 2 == 0


def train(out: Path, epochs: int = 4, seed: int = 0, lr: float = 3e-5):
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments

    from labs.lab06_rag.dense import minilm_path

    pairs = training_pairs(seed)
    model = CrossEncoder(minilm_path(), num_labels=1, device="cpu")
    data = Dataset.from_dict({"query": [p[0] for p in pairs], "doc": [p[1] for p in pairs],
                              "label": [p[2] for p in pairs]})
    args = CrossEncoderTrainingArguments(output_dir=str(out / "checkpoints"), num_train_epochs=epochs,
                                         per_device_train_batch_size=8, learning_rate=lr, warmup_steps=0.1,
                                         seed=seed, save_strategy="no", logging_steps=5, report_to=[],
                                         disable_tqdm=False, use_cpu=True)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=BinaryCrossEntropyLoss(model))
    trainer.train()
    model.save_pretrained(str(out))
    (out / "trained.json").write_text(json.dumps({"pairs": len(pairs), "epochs": epochs}))
    return model


def load_reranker(lab_dir: Path, train_if_missing: bool = False):
    """The reranker at RERANKER_PATH, else the one trained under DATA_DIR (trained now if asked)."""
    from sentence_transformers.cross_encoder import CrossEncoder

    path = os.environ.get("RERANKER_PATH")
    if path:
        return CrossEncoder(path, device="cpu")
    out = Path(lab_dir) / SUBDIR
    if (out / "trained.json").exists():
        return CrossEncoder(str(out), device="cpu")
    if not train_if_missing:
        return None
    out.mkdir(parents=True, exist_ok=True)
    return train(out)


def main() -> None:
    from labs.lab06_rag.evaluate import fixture_kb
    from labs.lab06_rag.metrics import ndcg_at_k
    from shared.config import get_settings

    lab = get_settings().lab_dir("lab06")
    reranker = load_reranker(lab, train_if_missing=True)
    kb = fixture_kb(lab / "eval", reranker=reranker)
    held_out = [q for q in load("eval") if q["relevant"] and not held_in(q)]
    for rerank in (False, True):
        scores = [ndcg_at_k(list(dict.fromkeys(h["doc_id"] for h in kb.search(q["question"], 10, "hybrid",
                                                                              rerank=rerank))), q["relevant"], 5)
                  for q in held_out]
        print(f"held-out NDCG@5 hybrid{' + rerank' if rerank else ''}: {sum(scores) / len(scores):.3f}")


if __name__ == "__main__":
    main()
