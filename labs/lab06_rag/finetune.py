"""Bi-encoder fine-tuning: MiniLM trained with InfoNCE on a generated corpus, measured on questions it never saw.

    python -m labs.lab06_rag.finetune          # trains into DATA_DIR/lab06/biencoder, prints held-out recall@10 / NDCG@10
    .venv/bin/python bench/bench_lab06_finetune.py   # the same, with the loss curve and the table in the README

The training data are (query, positive, hard negative) triples from `generated.mine`: product features
the fixture never mentions, asked in paraphrase and in the articles' own words, each query's hard
negatives mined from the first stage (BM25 and dense fused with RRF). The last HELD_OUT features of
the generated corpus are held out too: no triple asks about them and none of their documents is a
negative, so their queries measure transfer to unseen features of the same corpus, and the fixture's
eval questions (all held out) measure transfer to another product's knowledge base.

One step: encode B queries, their B positives and B·m hard negatives with the model being trained,
take InfoNCE over the B × (B + B·m) score matrix (`infonce.py`: every other query's positive is an
in-batch negative), mask the candidates that are relevant to a query without being its positive
(another version of the same article, the same plan page asked twice), and take an AdamW step.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from labs.lab06_rag import generated
from labs.lab06_rag.corpus import load
from labs.lab06_rag.dense import minilm_path, sentence_model
from labs.lab06_rag.infonce import SCALE, infonce
from labs.lab06_rag.metrics import ndcg_at_k, recall_at_k
from shared.config import get_settings

SUBDIR = "biencoder"
N_FEATURES, HELD_OUT = 40, 10  # generated features mined; the last HELD_OUT are never trained on
K = 10


@dataclass(frozen=True)
class Triple:
    query: str
    positive: str  # doc id
    negatives: tuple[str, ...]  # doc ids, hardest first
    relevant: frozenset[str]  # every doc id graded > 0 for the query (never an in-batch negative for it)


def feature_of(doc_id: str) -> int:
    """The generated feature a document belongs to: kb-07-v1, plan-07, ts-07-2, howto-07-setup -> 7."""
    return int(doc_id.split("-")[1])


def triples(mined: list[tuple[str, dict[str, float], list[str]]], features: set[int], hard: int = 1
            ) -> list[Triple]:
    """One triple per (query, fully relevant document) of the queries about `features`, with `hard`
    mined negatives each (rotating through the query's first-stage negatives, so two positives of one
    query meet different ones); negatives from other features are dropped, so nothing outside
    `features` is ever seen."""
    out = []
    for query, labels, negatives in mined:
        if {feature_of(d) for d in labels} - features:
            continue
        pool = [n for n in negatives if feature_of(n) in features]
        positives = [d for d, g in labels.items() if g == 1.0]
        if not pool or not positives:
            continue
        relevant = frozenset(d for d, g in labels.items() if g > 0)
        for k, positive in enumerate(positives):
            chosen = tuple(pool[(k + j) % len(pool)] for j in range(hard))
            out.append(Triple(query, positive, chosen, relevant))
    return out


def false_negative_mask(batch: list[Triple]) -> torch.Tensor:
    """B × (B + B·m), True where a candidate is relevant to the row's query but is not its positive."""
    candidates = [t.positive for t in batch] + [n for t in batch for n in t.negatives]
    mask = torch.tensor([[c in t.relevant for c in candidates] for t in batch])
    mask[torch.arange(len(batch)), torch.arange(len(batch))] = False
    return mask


def load_encoder(layers: int | None = None):
    """A fresh trainable MiniLM (not the process-wide one `dense.sentence_model` serves), optionally cut to
    its first `layers` transformer layers (the tests' fast path)."""
    from sentence_transformers import SentenceTransformer  # heavy: only training and evaluation need it

    return SentenceTransformer(minilm_path(), device="cpu",
                               config_kwargs={"num_hidden_layers": layers} if layers else None)


def train(examples: list[Triple], text: dict[str, str], out: Path | None = None, epochs: int = 1,
          steps: int | None = None, batch_size: int = 16, lr: float = 3e-5, scale: float = SCALE,
          layers: int | None = None, max_length: int = 64, seed: int = 0,
          progress: Callable[[int, int, float], None] | None = None, model=None):
    """Fine-tune with InfoNCE over `examples` for `epochs` (or exactly `steps` batches, cycling through
    the shuffled triples); returns (model, per-step losses). Saved to `out` when given, with the
    serving sequence length restored (training reads 64 tokens: question, title and fact sentence)."""
    if not examples:
        raise ValueError("no training triples")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = model or load_encoder(layers)
    serve_len, model.max_seq_length = model.max_seq_length, max_length
    per_epoch = max(1, len(examples) // batch_size)
    total = steps or per_epoch * epochs
    plan: list[list[Triple]] = []
    while len(plan) < total:
        order = rng.sample(examples, len(examples))
        plan += [order[i:i + batch_size] for i in range(0, len(order), batch_size)][:per_epoch]
    plan = plan[:total]
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    warmup = max(1, total // 10)  # a short linear warm-up, then linear decay to zero: the usual recipe
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    model.train()
    losses = []
    for step, batch in enumerate(plan, start=1):
        B, m = len(batch), len(batch[0].negatives)
        texts = [t.query for t in batch] + [text[t.positive] for t in batch] + [text[n] for t in batch
                                                                                  for n in t.negatives]
        emb = model(model.preprocess(texts))["sentence_embedding"]
        q, p, n = emb[:B], emb[B:2 * B], emb[2 * B:].reshape(B, m, -1)
        loss = infonce(q, p, n, scale=scale, mask=false_negative_mask(batch))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        if progress:
            progress(step, total, losses[-1])
    model.eval()
    model.max_seq_length = serve_len
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        model.save(str(out), create_model_card=False)
        (out / "trained.json").write_text(json.dumps({
            "triples": len(examples), "steps": total, "batch_size": batch_size, "lr": lr, "scale": scale,
            "layers": model[0].auto_model.config.num_hidden_layers, "max_length": max_length, "hard_negatives": len(examples[0].negatives),
            "final_loss": round(float(np.mean(losses[-5:])), 4)}))
    return model, losses


def retrieval_scores(encode: Callable[[list[str]], np.ndarray], docs: dict[str, str],
                     asked: list[tuple[str, dict]], k: int = K, slices: list[str] | None = None) -> dict:
    """Mean recall@k and NDCG@k of exact cosine search over `docs` (id -> text) for (query, grades),
    and per slice when each query's slice is given."""
    ids = list(docs)
    D, Q = encode([docs[i] for i in ids]), encode([q for q, _ in asked])
    top = np.argsort(-(Q @ D.T), axis=1, kind="stable")[:, :k]
    recall = np.array([recall_at_k([ids[j] for j in row], rel, k) for row, (_, rel) in zip(top, asked, strict=True)])
    ndcg = np.array([ndcg_at_k([ids[j] for j in row], rel, k) for row, (_, rel) in zip(top, asked, strict=True)])
    out: dict = {f"recall@{k}": round(float(recall.mean()), 4), f"ndcg@{k}": round(float(ndcg.mean()), 4),
                 "queries": len(asked)}
    if slices:
        names = np.array(slices)
        out["slices"] = {s: {f"recall@{k}": round(float(recall[names == s].mean()), 4),
                             f"ndcg@{k}": round(float(ndcg[names == s].mean()), 4), "queries": int((names == s).sum())}
                         for s in sorted(set(slices))}
    return out


def fixture_split() -> tuple[dict[str, str], list[tuple[str, dict]], list[str]]:
    """The eval fixture's public documents, answerable questions and their slices: never trained on."""
    docs = {d["id"]: f"{d['title']}. {d['text']}" for d in load("corpus") if d["tenant"] == "public"}
    questions = [q for q in load("eval") if q["relevant"]]
    return docs, [(q["question"], q["relevant"]) for q in questions], [q["slice"] for q in questions]


def generated_split(n_features: int = N_FEATURES, held_out: int = HELD_OUT, seed: int = 0, hard: int = 1,
                    embed=None) -> tuple[list[Triple], dict[str, str], list[tuple[str, dict]]]:
    """(training triples, all generated documents, held-out queries): features 0..n−held_out−1 train,
    the rest are only asked. `embed` is the first stage's encoder for mining (default MiniLM)."""
    if not 1 <= held_out < n_features:
        raise ValueError("held_out must leave at least one feature to train on")
    mined, text = generated.mine(n_features, seed, embed=embed)
    trained = set(range(n_features - held_out))
    asked = [(q, labels) for q, labels, _ in mined if not {feature_of(d) for d in labels} & trained]
    return triples(mined, trained, hard), text, asked


def encoder(model) -> Callable[[list[str]], np.ndarray]:
    return lambda texts: np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True))


def compare(tuned, gen_docs: dict[str, str], gen_asked: list[tuple[str, dict]], base=None) -> dict:
    """Held-out recall@10 / NDCG@10 of base MiniLM and the tuned model on both held-out sets."""
    base = base or sentence_model()
    fix_docs, fix_asked, fix_slices = fixture_split()
    return {"fixture eval": {name: retrieval_scores(encoder(m), fix_docs, fix_asked, slices=fix_slices)
                             for name, m in (("base", base), ("fine-tuned", tuned))},
            "generated, held-out features": {name: retrieval_scores(encoder(m), gen_docs, gen_asked)
                                             for name, m in (("base", base), ("fine-tuned", tuned))}}


def finetune_job(out: Path, params: dict, ctx) -> dict:
    """What `POST /finetune/biencoder` runs: mine a small generated corpus (a quarter of its features held
    out), train with progress reported to the job, save to `out`; with `evaluate`, held-out recall@10 /
    NDCG@10 of the same-size untrained model before and of the tuned one after."""
    n = params["features"]
    held = max(1, n // 4)
    ctx.progress(0, params["steps"], "mining hard negatives from the generated corpus")
    examples, text, asked = generated_split(n, held, hard=params["hard_negatives"])
    model = load_encoder(params["layers"])
    before = retrieval_scores(encoder(model), text, asked) if params["evaluate"] else None
    model, losses = train(examples, text, out, steps=params["steps"], batch_size=params["batch_size"],
                          lr=params["lr"], scale=params["scale"], max_length=params["max_length"], model=model,
                          progress=lambda s, t, loss: ctx.progress(s, t, f"InfoNCE loss {loss:.3f}",
                                                                   metrics={"loss": round(loss, 4)}))
    result = {"saved": str(out), "triples": len(examples), "features": {"trained": n - held, "held_out": held},
              "losses": [round(v, 4) for v in losses]}
    if before is not None:
        result["held_out"] = {"base": before, "fine-tuned": retrieval_scores(encoder(model), text, asked)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--retrain", action="store_true", help="train even if DATA_DIR/lab06/biencoder exists")
    args = parser.parse_args()
    out = get_settings().lab_dir("lab06") / SUBDIR
    examples, text, asked = generated_split()
    if args.retrain or not (out / "trained.json").exists():
        t0 = time.perf_counter()
        train(examples, text, out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
              progress=lambda s, t, loss: print(f"step {s}/{t}  loss {loss:.3f}  {time.perf_counter() - t0:.0f} s"))
    from sentence_transformers import SentenceTransformer  # heavy: only loading a trained model needs it

    print("fine-tuned model:", (out / "trained.json").read_text())
    for split, rows in compare(SentenceTransformer(str(out), device="cpu"), text, asked).items():
        for name, r in rows.items():
            print(f"{split:32s} {name:10s} recall@{K} {r[f'recall@{K}']:.3f}  NDCG@{K} {r[f'ndcg@{K}']:.3f}"
                  f"  ({r['queries']} queries)")


if __name__ == "__main__":
    main()
