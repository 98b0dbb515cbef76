"""Cross-encoder reranking: a small reranker trained here from the local MiniLM weights.

    python -m labs.lab06_rag.rerank                            # trains (or loads) it, prints its held-out effect
    python -m labs.lab06_rag.rerank --pooling cls --layers 3 --epochs 1 --lr 1e-4   # a variant (the collapsed one)

A bi-encoder embeds query and document apart and compares vectors; a cross-encoder reads the pair
together and outputs one relevance logit, which is slower (one forward pass per candidate) and more
accurate, so it reorders only the top candidates. No reranker ships offline, so this one starts from
all-MiniLM-L6-v2 (all 6 layers) with a fresh 1-logit head on the mean of the token states (not
on [CLS], which this sentence model leaves nearly constant: see `fresh_model`), trained with
binary cross-entropy

    L = −[y·log σ(s) + (1 − y)·log(1 − σ(s))]

on pairs from a generated corpus (`training_pairs`, `generated.py`: product features the fixture
never mentions, asked in paraphrase and in the articles' own words), each query's graded documents
against negatives mined from the first stage it will rerank. Every eval question is held out.
In `kb.search` its probability is blended with the first-stage rank, w · p + (1 − w) · (1 − r/n),
w = 0.5: alone (w = 1) it tells features apart better than versions, and drops the fixture's
single-fact questions (ndcg@5 0.940 → 0.845) that the blend keeps (`bench/bench_lab06_rerank.py`
measures the sweep).
Any other reranker (a local folder or a hub id, where reachable) is one setting away: RERANKER_PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np

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


# The lab's training recipe. Everything here changes the trained model, so all of it is in the
# digest that decides whether the cached reranker under DATA_DIR is stale.
RECIPE = {"pooling": "mean", "epochs": 2, "lr": 3e-4, "layers": 6, "max_length": 64, "batch_size": 16}


def fresh_model(pooling: str = "mean", layers: int | None = 6, max_length: int | None = 64, **_):
    """An untrained cross-encoder over MiniLM's first `layers` layers, with a fresh 1-logit head.

    pooling "cls" is the usual sequence-classification head: it reads the [CLS] token. MiniLM here
    is a sentence-transformer trained with mean pooling, and its [CLS] state barely depends on the
    input (its spread across pairs is about 1 % of its size after 3 layers), so that head starts
    from one constant for every pair, and the earlier recipe never left it: the model learnt the
    mean label. "mean" reads the mean of the token states, the vectors MiniLM was trained to make
    informative, so the head sees the pair from the first step."""
    from sentence_transformers.base.modules.dense import Dense
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling

    config = {"num_hidden_layers": layers} if layers else None
    if pooling == "cls":
        return CrossEncoder(minilm_path(), num_labels=1, device="cpu", max_length=max_length, config_kwargs=config)
    if pooling != "mean":
        raise ValueError(f"pooling must be mean or cls, not {pooling!r}")
    encoder = Transformer(minilm_path(), max_seq_length=max_length, config_kwargs=config)
    dim = encoder.get_embedding_dimension()
    return CrossEncoder(modules=[encoder, Pooling(dim, "mean"),
                                 Dense(dim, 1, activation_function=None, module_output_name="scores")], device="cpu")


def train(out: Path, pairs: list | None = None, seed: int = 0, **recipe):
    """Fine-tune the cross-encoder on `pairs` (default: all of `training_pairs(seed)`) and save it in `out`.

    `recipe` overrides RECIPE (see `fresh_model` for `pooling`). `layers` keeps only MiniLM's first n
    transformer layers and `max_length` truncates each pair (64 tokens keep the question, the title and the fact
    sentence's opening: the query names the feature, the attribute and the version, the value it
    does not know): the cost is linear in both."""
    import torch  # heavy: only training needs it
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments

    r = {**RECIPE, **recipe}
    pairs = pairs if pairs is not None else training_pairs(seed=seed)
    torch.manual_seed(seed)  # the fresh head's initialisation
    model = fresh_model(**r)
    data = Dataset.from_dict({"query": [p[0] for p in pairs], "doc": [p[1] for p in pairs],
                              "label": [p[2] for p in pairs]})
    args = CrossEncoderTrainingArguments(output_dir=str(out / "checkpoints"), num_train_epochs=r["epochs"],
                                         per_device_train_batch_size=r["batch_size"], learning_rate=r["lr"],
                                         warmup_steps=0.1, seed=seed, save_strategy="no", logging_steps=5,
                                         report_to=[], disable_tqdm=False, use_cpu=True)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=BinaryCrossEntropyLoss(model))
    trainer.train()
    model.save_pretrained(str(out))
    (out / "trained.json").write_text(json.dumps({"pairs": len(pairs), "queries": len({p[0] for p in pairs}), **r,
                                                  "steps": trainer.state.global_step,
                                                  "recipe": recipe_digest(recipe=r)}))
    return model


def recipe_digest(n_features: int = N_FEATURES, seed: int = 0, recipe: dict | None = None) -> str:
    """A hash of the generated corpus the pairs come from and of the recipe's hyperparameters: a
    changed generator or recipe retrains the cached reranker."""
    docs, questions, _ = generated.corpus(n_features, seed)
    return hashlib.sha256(json.dumps([docs, questions, recipe or RECIPE], sort_keys=True).encode()).hexdigest()[:16]


def held_out_groups(n_features: int = N_FEATURES, seed: int = 0, embed=None, held_features: int = len(generated.NAMES)
                    ) -> list[tuple[str, list[str], list[float]]]:
    """[(query, documents, labels)] mined as for training from a generated corpus drawn with another
    seed, keeping only the features the training corpus (`n_features`, `seed`) lacks: unseen names,
    unseen phrasings, the same hard negatives."""
    trained = {f[0] for f in generated.features(n_features, seed)}
    table = generated.features(held_features, seed + 1)
    mined, text = generated.mine(held_features, seed + 1, embed=embed)
    out = []
    for query, labels, negatives in mined:
        fi = int(next(iter(labels)).split("-")[1])  # kb-03-v1, plan-03, howto-03-upgrade: feature 3
        if table[fi][0] not in trained:
            out.append((query, [text[d] for d in list(labels) + negatives],
                        list(labels.values()) + [0.0] * len(negatives)))
    return out


def separation(model, held: list[tuple[str, list[str], list[float]]]) -> dict[str, float]:
    """How the reranker's scores split each held-out query's documents: the share of (gold, mined
    negative) and (gold, other version) pairs it orders right, ndcg@5 within the query's list, and
    the spread of its scores (a model that outputs a constant has std ≈ 0 and orders by noise)."""
    s = np.asarray(model.predict([(q, d) for q, docs, _ in held for d in docs], show_progress_bar=False), float)
    y = np.array([g for *_, labels in held for g in labels])
    wins, version_wins, ndcg, at = [], [], [], 0
    for _, docs, labels in held:
        sq, yq = s[at:at + len(docs)], np.array(labels)
        at += len(docs)
        wins += [a > b for a in sq[yq == 1] for b in sq[yq == 0]]
        version_wins += [a > b for a in sq[yq == 1] for b in sq[yq == 0.5]]
        ndcg.append(ndcg_at_k([str(i) for i in np.argsort(-sq, kind="stable")],
                              {str(i): 2 * g for i, g in enumerate(labels) if g}, 5))
    return {"queries": len(held), "gold_over_negatives": float(np.mean(wins)),
            "gold_over_other_versions": float(np.mean(version_wins)), "ndcg@5": float(np.mean(ndcg)),
            "score_std": float(s.std()), "p_gold": float(s[y == 1].mean()), "p_negative": float(s[y == 0].mean())}


def load_reranker(lab_dir: Path, train_if_missing: bool = False):
    """The reranker at RERANKER_PATH, else the one trained under DATA_DIR (trained now if asked, or
    retrained if asked and the generated training corpus or RECIPE changed since it was trained)."""
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
    parser = argparse.ArgumentParser(description="Train (or load) the lab's reranker and measure it held out. "
                                     "Any recipe option trains a variant in DATA_DIR/lab06/reranker-variant instead.")
    parser.add_argument("--pooling", choices=["mean", "cls"])
    parser.add_argument("--layers", type=int, choices=range(1, 7), metavar="1..6")
    parser.add_argument("--epochs", type=int, choices=range(1, 11), metavar="1..10")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--max-length", type=int, dest="max_length")
    variant = {k: v for k, v in vars(parser.parse_args()).items() if v is not None}
    lab = get_settings().lab_dir("lab06")
    if variant:
        (lab / "reranker-variant").mkdir(parents=True, exist_ok=True)
        reranker = train(lab / "reranker-variant", **variant)
    else:
        reranker = load_reranker(lab, train_if_missing=True)
    sep = separation(reranker, held_out_groups())
    print(f"generated held-out split ({sep['queries']} queries, features never trained on): gold above mined "
          f"negatives {sep['gold_over_negatives']:.2f}, above another version {sep['gold_over_other_versions']:.2f}, "
          f"ndcg@5 {sep['ndcg@5']:.3f}, score std {sep['score_std']:.3f}")
    kb = fixture_kb(lab / "eval", reranker=reranker)
    questions = [q for q in load("eval") if q["relevant"]]  # all held out: the reranker never saw the fixture
    for label, rerank, w in (("hybrid", False, None), (f"hybrid + rerank (w = {kb.rerank_weight})", True, None),
                             ("hybrid + reranker alone (w = 1)", True, 1.0)):
        scores = [ndcg_at_k(list(dict.fromkeys(h["doc_id"] for h in kb.search(
            q["question"], 10, "hybrid", rerank=rerank, rerank_weight=w))), q["relevant"], 5) for q in questions]
        print(f"held-out NDCG@5 {label}: {sum(scores) / len(scores):.3f}")


if __name__ == "__main__":
    main()
