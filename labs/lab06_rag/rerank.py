"""Cross-encoder reranking: a small reranker trained here from the local MiniLM weights.

    python -m labs.lab06_rag.rerank            # trains (or loads) it, then prints its held-out effect

A bi-encoder embeds query and document apart and compares vectors; a cross-encoder reads the pair
together and outputs one relevance logit, which is slower (one forward pass per candidate) and more
accurate, so it reorders only the top candidates. No reranker ships offline, so this one starts from
all-MiniLM-L6-v2 with a fresh 1-logit head and is trained with binary cross-entropy

    L = −[y·log σ(s) + (1 − y)·log(1 − σ(s))]

on pairs from a generated corpus (`training_pairs`, `generated.py`: product features the fixture
never mentions, asked in paraphrase and in the articles' own words), each query's graded documents
against negatives mined from the first stage it will rerank. Every eval question is held out.
In `kb.search` its probability is blended with the first-stage rank, w · p + (1 − w) · (1 − r/n),
w = 0.5: alone it over-trusts what it learnt (plan pages, version numbers) on unseen features.
Any other reranker (a local folder or a hub id, where reachable) is one setting away: RERANKER_PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

from labs.lab06_rag import generated
from labs.lab06_rag.corpus import load
from labs.lab06_rag.dense import minilm_path
from labs.lab06_rag.kb import fixture_kb
from labs.lab06_rag.metrics import ndcg_at_k
from shared.config import get_settings

SUBDIR = "reranker"


N_FEATURES = 24  # generated features the lab's reranker trains on (about 1,000 pairs)


def training_pairs(n_features: int = N_FEATURES, seed: int = 0, hard: int = 3, easy: int = 1, embed=None
                   ) -> list[tuple[str, str, float]]:
    """(query, "title. text", label) pairs from a generated corpus (`generated.mine`), never the eval set.

    label = grade / 2: the answer 1, another version of it 0.5, mined negatives 0. The `hard`
    negatives come from the first stage the reranker will reorder, so they are mostly the right
    version of the wrong feature: the mistake a reranker trained on easy negatives makes (it ranks
    any article with a matching "3.0" first)."""
    mined, text = generated.mine(n_features, seed, hard, easy, embed)
    pairs = [(query, text[d], g) for query, labels, negatives in mined
             for d, g in list(labels.items()) + [(n, 0.0) for n in negatives]]
    random.Random(seed).shuffle(pairs)
    return pairs


def held_in(q: dict) -> bool:
    """The even-numbered features' questions: the earlier reranker trained on these, so the quality
    bench still reports the odd ones apart to compare with it. The reranker now trains on none."""
    return int(q["id"].rsplit("-", 1)[1]) % 2 == 0


def train(out: Path, epochs: int = 1, seed: int = 0, lr: float = 1e-4, pairs: list | None = None,
          layers: int | None = 3, max_length: int | None = 64, batch_size: int = 16):
    """Fine-tune the cross-encoder on `pairs` (default: all of `training_pairs(seed)`) and save it in `out`.

    `layers` keeps only MiniLM's first n transformer layers and `max_length` truncates each pair
    (64 tokens keep the question, the title and the fact sentence): the cost is linear in both. The
    defaults (3 of 6 layers, 1 epoch over the 24-feature corpus's pairs) fit a 2-core CPU in minutes;
    the tests train a smaller one still."""
    import torch  # heavy: only training needs it
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments

    pairs = pairs if pairs is not None else training_pairs(seed=seed)
    torch.manual_seed(seed)  # the fresh head's initialisation
    model = CrossEncoder(minilm_path(), num_labels=1, device="cpu", max_length=max_length,
                         config_kwargs={"num_hidden_layers": layers} if layers else None)
    data = Dataset.from_dict({"query": [p[0] for p in pairs], "doc": [p[1] for p in pairs],
                              "label": [p[2] for p in pairs]})
    args = CrossEncoderTrainingArguments(output_dir=str(out / "checkpoints"), num_train_epochs=epochs,
                                         per_device_train_batch_size=batch_size, learning_rate=lr, warmup_steps=0.1,
                                         seed=seed, save_strategy="no", logging_steps=5, report_to=[],
                                         disable_tqdm=False, use_cpu=True)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=BinaryCrossEntropyLoss(model))
    trainer.train()
    model.save_pretrained(str(out))
    (out / "trained.json").write_text(json.dumps({"pairs": len(pairs), "epochs": epochs, "layers": layers,
                                                  "recipe": recipe_digest()}))
    return model


def recipe_digest(n_features: int = N_FEATURES, seed: int = 0) -> str:
    """A hash of the generated corpus the pairs come from: a changed generator retrains the cached reranker."""
    docs, questions, _ = generated.corpus(n_features, seed)
    return hashlib.sha256(json.dumps([docs, questions]).encode()).hexdigest()[:16]


def load_reranker(lab_dir: Path, train_if_missing: bool = False):
    """The reranker at RERANKER_PATH, else the one trained under DATA_DIR (trained now if asked, or
    retrained if asked and the generated training corpus changed since it was trained)."""
    from sentence_transformers.cross_encoder import CrossEncoder

    path = os.environ.get("RERANKER_PATH")
    if path:
        return CrossEncoder(path, device="cpu")
    out = Path(lab_dir) / SUBDIR
    if (out / "trained.json").exists():
        stale = json.loads((out / "trained.json").read_text()).get("recipe") != recipe_digest()
        if not (stale and train_if_missing):  # a stale one still serves until someone asks to train
            return CrossEncoder(str(out), device="cpu")
    if not train_if_missing:
        return None
    out.mkdir(parents=True, exist_ok=True)
    return train(out)


def main() -> None:
    lab = get_settings().lab_dir("lab06")
    reranker = load_reranker(lab, train_if_missing=True)
    kb = fixture_kb(lab / "eval", reranker=reranker)
    questions = [q for q in load("eval") if q["relevant"]]  # all held out: the reranker never saw the fixture
    for label, rerank, w in (("hybrid", False, None), (f"hybrid + rerank (w = {kb.rerank_weight})", True, None),
                             ("hybrid + reranker alone (w = 1)", True, 1.0)):
        scores = [ndcg_at_k(list(dict.fromkeys(h["doc_id"] for h in kb.search(
            q["question"], 10, "hybrid", rerank=rerank, rerank_weight=w))), q["relevant"], 5) for q in questions]
        print(f"held-out NDCG@5 {label}: {sum(scores) / len(scores):.3f}")


if __name__ == "__main__":
    main()
