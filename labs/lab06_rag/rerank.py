"""Cross-encoder reranking: a small reranker trained here from the local MiniLM weights.

    python -m labs.lab06_rag.rerank            # trains (or loads) it, then prints its held-out effect

A bi-encoder embeds query and document apart and compares vectors; a cross-encoder reads the pair
together and outputs one relevance logit, which is slower (one forward pass per candidate) and more
accurate, so it reorders only the top candidates. No reranker ships offline, so this one starts from
all-MiniLM-L6-v2 with a fresh 1-logit head and is trained with binary cross-entropy

    L = −[y·log σ(s) + (1 − y)·log(1 − σ(s))]

on pairs from the fixture (`training_pairs`): graded documents of the even-numbered features'
questions, and every feature's articles queried in their own words, each against negatives mined
from the first stage it will rerank. The odd-numbered features' questions are held out for measuring.
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

from labs.lab06_rag.bm25 import BM25, tokenize
from labs.lab06_rag.corpus import FEATURES, FIXTURES, PRODUCT, VERSIONS, load, upgrade_grade
from labs.lab06_rag.dense import minilm_path, sentence_model
from labs.lab06_rag.hybrid import rrf
from labs.lab06_rag.kb import fixture_kb
from labs.lab06_rag.metrics import ndcg_at_k
from shared.config import get_settings

SUBDIR = "reranker"


def training_pairs(seed: int = 0, hard: int = 2, easy: int = 1, embed=None) -> list[tuple[str, str, float]]:
    """(query, document, label) pairs for the reranker; label = grade / 2, so another version is 0.5.

    Two sources, neither of them a held-out question:
    1. the held-in eval questions: their graded documents, `hard` negatives mined from the first stage
       (BM25 and dense rankings fused with RRF, exactly what the reranker will be asked to reorder)
       and `easy` random ones;
    2. every feature, in the documents' own words (the attribute as the article names it, not the
       questions' paraphrase): a fact query per version (that version 1, the next 0.5, the upgrade
       note graded as the eval set grades it) and a plan-plus-fact query (plan page, latest article
       and upgrade note 1, an older version 0.5), each with
       `hard` mined negatives. Those are mostly other features at the same version: a reranker
       trained on (1) alone learns that a matching "3.0" means relevant, and ranks the wrong
       feature's 3.0 article first on held-out questions.
    `embed` (texts -> L2-normalised vectors) defaults to MiniLM; a cached `dense.Embedder.embed` saves re-embedding.
    """
    rng = random.Random(seed)
    docs = load("corpus")
    ids = [d["id"] for d in docs if d["tenant"] == "public"]
    text = {d["id"]: f"{d['title']}. {d['text']}" for d in docs}
    bm = BM25([tokenize(text[i]) for i in ids])
    embed = embed or (lambda texts: sentence_model().encode(texts, batch_size=64, normalize_embeddings=True))
    doc_vecs = embed([text[i] for i in ids])

    queries: list[tuple[str, dict[str, float], int]] = []  # (query, labels, random negatives)
    for q in load("eval"):
        if q["relevant"] and held_in(q):
            queries.append((q["question"], {d: g / 2 for d, g in q["relevant"].items()}, easy))
    last = len(VERSIONS) - 1
    for fi, (name, attr, _paraphrase, _values, _plan, _section) in enumerate(FEATURES):
        upgrade = f"howto-{fi:02d}-upgrade"  # states the last two versions' values (corpus.upgrade_note)
        for vi, version in enumerate(VERSIONS):
            queries.append((f"What is the {attr} for {name} in {PRODUCT} {version}?",
                            {f"kb-{fi:02d}-v{vi}": 1.0, f"kb-{fi:02d}-v{(vi + 1) % len(VERSIONS)}": 0.5,
                             upgrade: upgrade_grade(vi) / 2}, 0))
        queries.append((f"Which plan includes {name}, and what is the {attr} in {PRODUCT} {VERSIONS[last]}?",
                        {f"plan-{fi:02d}": 1.0, f"kb-{fi:02d}-v{last}": 1.0, f"kb-{fi:02d}-v{fi % last}": 0.5,
                         upgrade: upgrade_grade(last) / 2}, 0))

    q_vecs = embed([q for q, _, _ in queries])
    pairs = []
    for (query, labels, n_easy), qv in zip(queries, q_vecs, strict=True):
        sparse, _ = bm.top_k(tokenize(query), 20)
        dense = (doc_vecs @ qv).argsort()[::-1][:20]
        first_stage = [d for d, _ in rrf([[ids[i] for i in sparse], [ids[i] for i in dense]])]
        # an unlabelled version of a labelled article is left out, not called irrelevant; the same
        # feature's troubleshooting and plan pages are fair negatives for a fact question
        versions = {d.rsplit("-v", 1)[0] for d in labels if d.startswith("kb-")}
        negatives = [d for d in first_stage if d not in labels and d.rsplit("-v", 1)[0] not in versions][:hard]
        negatives += rng.sample([d for d in ids if d not in labels and d not in negatives], n_easy)
        pairs += [(query, text[d], g) for d, g in labels.items()]
        pairs += [(query, text[d], 0.0) for d in negatives]
    rng.shuffle(pairs)
    return pairs


def held_in(q: dict) -> bool:
    """Even-numbered features train; odd-numbered ones are held out for measuring."""
    return int(q["id"].rsplit("-", 1)[1]) % 2 == 0


def train(out: Path, epochs: int = 3, seed: int = 0, lr: float = 3e-5, pairs: list | None = None,
          layers: int | None = None, max_length: int | None = None, batch_size: int = 8):
    """Fine-tune the cross-encoder on `pairs` (default: all of `training_pairs(seed)`) and save it in `out`.

    `layers` keeps only MiniLM's first n transformer layers and `max_length` truncates each pair: a
    smaller, faster reranker for tests and quick runs (the cost is linear in both)."""
    import torch  # heavy: only training needs it
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments

    pairs = pairs if pairs is not None else training_pairs(seed)
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
                                                  "fixture": fixture_digest()}))
    return model


def fixture_digest() -> str:
    """A hash of the fixture the pairs come from, so a regenerated fixture retrains the cached reranker."""
    digest = hashlib.sha256()
    for name in ("corpus", "eval"):
        digest.update((FIXTURES / f"{name}.jsonl").read_bytes())
    return digest.hexdigest()[:16]


def load_reranker(lab_dir: Path, train_if_missing: bool = False):
    """The reranker at RERANKER_PATH, else the one trained under DATA_DIR (trained now if asked, or
    retrained if asked and the fixture changed since it was trained)."""
    from sentence_transformers.cross_encoder import CrossEncoder

    path = os.environ.get("RERANKER_PATH")
    if path:
        return CrossEncoder(path, device="cpu")
    out = Path(lab_dir) / SUBDIR
    if (out / "trained.json").exists():
        stale = json.loads((out / "trained.json").read_text()).get("fixture") != fixture_digest()
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
    held_out = [q for q in load("eval") if q["relevant"] and not held_in(q)]
    for label, rerank, w in (("hybrid", False, None), (f"hybrid + rerank (w = {kb.rerank_weight})", True, None),
                             ("hybrid + reranker alone (w = 1)", True, 1.0)):
        scores = [ndcg_at_k(list(dict.fromkeys(h["doc_id"] for h in kb.search(
            q["question"], 10, "hybrid", rerank=rerank, rerank_weight=w))), q["relevant"], 5) for q in held_out]
        print(f"held-out NDCG@5 {label}: {sum(scores) / len(scores):.3f}")

if __name__ == "__main__":
    main()
