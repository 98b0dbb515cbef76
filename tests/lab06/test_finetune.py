"""Bi-encoder fine-tuning: triples from the generated corpus only, false negatives masked, a few InfoNCE
steps on a truncated MiniLM lower the loss, and the job route refuses bad input.

The full run (347 triples, 42 steps, six layers) is `bench/bench_lab06_finetune.py`'s; here the first
stage that mines negatives is a hashed bag of words instead of MiniLM, and the model keeps one layer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from labs.lab06_rag.app import create_app
from labs.lab06_rag.bm25 import tokenize
from labs.lab06_rag.corpus import load
from labs.lab06_rag.finetune import (
    Triple,
    false_negative_mask,
    feature_of,
    generated_split,
    infonce,
    load_encoder,
    train,
)
from shared.config import get_settings


def hashed_bow(texts: list[str], dim: int = 256) -> np.ndarray:
    """A cheap deterministic first stage for mining: hashed token counts, L2-normalised."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        for tok in tokenize(t):
            out[i, int(hashlib.md5(tok.encode()).hexdigest()[:8], 16) % dim] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture(scope="module")
def split():
    return generated_split(8, 2, embed=hashed_bow)


def test_triples_come_from_trained_features_only(split):
    examples, text, asked = split
    trained = set(range(6))
    assert examples and asked
    for t in examples:
        assert {feature_of(d) for d in (t.positive, *t.negatives)} <= trained
        assert t.positive in t.relevant and not set(t.negatives) & t.relevant
    assert all({feature_of(d) for d in labels} <= {6, 7} for _, labels in asked)
    eval_texts = {q["question"] for q in load("eval")} | {f"{d['title']}. {d['text']}" for d in load("corpus")}
    assert not ({t.query for t in examples} | {text[t.positive] for t in examples}) & eval_texts


def test_mask_hides_relevant_candidates_but_never_the_own_positive():
    batch = [Triple("q0", "kb-00-v0", ("kb-01-v0",), frozenset({"kb-00-v0", "kb-00-v1"})),
             Triple("q1", "kb-00-v1", ("kb-00-v0",), frozenset({"kb-00-v1", "kb-00-v0"})),
             Triple("q2", "kb-01-v0", ("plan-02",), frozenset({"kb-01-v0"}))]
    mask = false_negative_mask(batch)  # candidates: kb-00-v0 kb-00-v1 kb-01-v0 | kb-01-v0 kb-00-v0 plan-02
    assert mask.tolist() == [[False, True, False, False, True, False],
                             [True, False, False, False, True, False],
                             [False, False, False, True, False, False]]


def batch_loss(model, batch, text) -> float:
    B = len(batch)
    model.eval()
    with torch.no_grad():
        emb = model.encode([t.query for t in batch] + [text[t.positive] for t in batch]
                           + [text[n] for t in batch for n in t.negatives], convert_to_tensor=True)
    return infonce(emb[:B], emb[B:2 * B], emb[2 * B:].reshape(B, 1, -1), mask=false_negative_mask(batch)).item()


def test_a_few_steps_lower_the_loss(split):
    examples, text, _ = split
    batch = [examples[i] for i in range(0, len(examples), max(1, len(examples) // 6))][:6]
    model = load_encoder(layers=1)
    # the 30k × 384 token-embedding matrix dominates a one-layer step's cost (its gradient and AdamW
    # update); frozen here for speed, the layer and pooling still learn
    model[0].auto_model.embeddings.word_embeddings.weight.requires_grad_(False)
    model.max_seq_length = 32
    before = batch_loss(model, batch, text)
    steps = []
    model, losses = train(batch, text, None, steps=4, batch_size=6, lr=3e-4, max_length=32, model=model,
                          progress=lambda s, t, loss: steps.append((s, t)))
    model.max_seq_length = 32
    after = batch_loss(model, batch, text)
    assert steps == [(s, 4) for s in range(1, 5)] and len(losses) == 4
    print(f"InfoNCE on the batch, dropout off: {before:.3f} before, {after:.3f} after 4 steps")
    assert after < before - 0.05, (before, after)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = get_settings(data_dir=tmp_path_factory.mktemp("finetune"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("body", [{"steps": 0}, {"steps": 51}, {"lr": 0}, {"lr": 1}, {"layers": 7},
                                  {"batch_size": 1}, {"features": 100}, {"epochs": 2}, {"scale": "big"}])
def test_bad_finetune_input_is_a_422(client, body):
    r = client.post("/finetune/biencoder", json=body)
    assert r.status_code == 422 and r.json()["error"]["type"] == "validation_error", r.text


def test_finetune_job_runs_with_progress_and_one_at_a_time(client):
    tiny = {"steps": 2, "batch_size": 4, "features": 4, "layers": 1, "max_length": 32, "evaluate": True}
    first = client.post("/finetune/biencoder", json=tiny)
    assert first.status_code == 200 and first.json()["kind"] == "finetune-biencoder"
    second = client.post("/finetune/biencoder", json=tiny)
    assert second.status_code == 409 and second.json()["error"]["type"] == "busy"
    job = client.app.state.lab06.jobs.wait(first.json()["id"], timeout_s=120)
    assert job["status"] == "succeeded", job
    assert job["progress"]["step"] == job["progress"]["total"] == 2 and "loss" in job["metrics"]
    assert len(job["result"]["losses"]) == 2 and job["result"]["features"] == {"trained": 3, "held_out": 1}
    held_out = job["result"]["held_out"]  # the one held-out feature's queries, before and after
    assert held_out["base"]["queries"] == held_out["fine-tuned"]["queries"] > 0
    assert all(0 <= r[m] <= 1 for r in held_out.values() for m in ("recall@10", "ndcg@10"))
    saved = Path(job["result"]["saved"])
    assert json.loads((saved / "trained.json").read_text())["layers"] == 1 and (saved / "config.json").exists()
