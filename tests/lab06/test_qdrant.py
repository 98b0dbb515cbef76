"""Qdrant behind the dense index (issue 27): the same retrieval contract on FAISS and on Qdrant's embedded
(in-process) mode, tenant isolation and filters as payload filters, upsert/delete by id, recall@10 and the
eval table against FAISS Flat, and an unreachable Qdrant as a 503 with the reason (never a 500, never FAISS).

Tolerance: the embedded mode searches exactly, as FAISS Flat does, so recall@10 against Flat must be
>= 0.99 (ties between equal scores may order differently) and every eval-table metric within 0.01.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from fastapi.testclient import TestClient

from labs.lab06_rag import vectorstore
from labs.lab06_rag.app import create_app
from labs.lab06_rag.corpus import load
from labs.lab06_rag.evaluate import evaluate
from labs.lab06_rag.kb import KnowledgeBase, RetrievalConfig
from labs.lab06_rag.vectorstore import FaissIndex, QdrantVectors, payload
from shared.config import get_settings
from shared.llm import Model

TOL = 0.01
DOCS = [
    {"id": "refund", "title": "Refunds", "text": "The refund window for annual plans is 30 days.", "version": "3.1",
     "product": "billing", "updated": "2024-06-01"},
    {"id": "old-refund", "title": "Refunds (old)", "text": "The refund window for annual plans was 14 days.",
     "version": "2.4", "product": "billing", "updated": "2023-01-01"},
    {"id": "sso", "title": "Single sign-on", "text": "Single sign-on supports SAML 2.0 and OIDC.", "version": "3.1",
     "product": "auth", "updated": "2024-02-01"},
    {"id": "acme-key", "tenant": "acme", "title": "Acme keys", "text": "Acme's refund approver is Wile E. Coyote.",
     "version": "3.1", "product": "billing", "updated": "2024-05-01"},
    {"id": "acme-sso", "tenant": "acme", "title": "Acme SSO", "text": "Acme signs on with Okta over SAML.",
     "version": "3.1", "product": "auth", "updated": "2024-03-01"},
    {"id": "globex-key", "tenant": "globex", "title": "Globex keys", "text": "Globex refunds are approved by Hank.",
     "version": "3.1", "product": "billing", "updated": "2024-04-01"},
]
TENANT = {d["id"]: d.get("tenant", "public") for d in DOCS}


MOCK = RetrievalConfig(index="flat", embed_model="llm:mock/embedding")  # hashed n-grams: no model to load


def backend(name: str):
    # a fresh in-memory Qdrant per knowledge base: the embedded mode of qdrant-client, no server
    return vectorstore.FaissVectors() if name == "faiss" else QdrantVectors(path=":memory:")


@pytest.fixture(scope="module", params=["faiss", "qdrant"])
def small_kb(request, tmp_path_factory):
    kb = KnowledgeBase(tmp_path_factory.mktemp(f"kb-{request.param}"), MOCK,
                       model=Model.from_settings().for_behaviour("rag"), vectors=backend(request.param))
    kb.upsert([{"tenant": "public", **d} for d in DOCS])
    return kb


def doc_ids(hits):
    return [h["doc_id"] for h in hits]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_a_query_never_returns_another_tenants_document(small_kb, mode):
    for tenant in ("public", "acme", "globex"):
        hits = small_kb.search("who approves refunds", k=20, mode=mode, tenant=tenant)
        assert hits and all(TENANT[d] in (tenant, "public") for d in doc_ids(hits)), (tenant, doc_ids(hits))
    assert "acme-key" in doc_ids(small_kb.search("Acme refund approver", k=20, mode=mode, tenant="acme"))


@pytest.mark.parametrize("filters,expected", [
    ({"version": "2.4"}, {"old-refund"}),
    ({"product": ["auth"]}, {"sso", "acme-sso"}),
    ({"doc_id": ["refund", "acme-key", "globex-key"]}, {"refund", "acme-key"}),
    ({"updated_after": "2024-03-01", "updated_before": "2024-05-31"}, {"acme-sso", "acme-key"}),
])
def test_metadata_filters_hold_in_the_dense_index(small_kb, filters, expected):
    hits = small_kb.search("refund sign-on keys", k=20, mode="dense", tenant="acme", filters=filters)
    assert set(doc_ids(hits)) == expected


def test_upsert_replaces_and_delete_removes_by_id(tmp_path):
    for name in ("faiss", "qdrant"):
        kb = KnowledgeBase(tmp_path / name, MOCK,
                           model=Model.from_settings().for_behaviour("rag"), vectors=backend(name))
        kb.upsert([{"tenant": "public", **d} for d in DOCS])
        kb.upsert([{**DOCS[2], "tenant": "public", "text": "Single sign-on now supports SCIM provisioning."}])
        texts = [h["text"] for h in kb.search("sign-on", k=20, mode="dense") if h["doc_id"] == "sso"]
        assert texts and all("SCIM" in t for t in texts), "the replaced chunks are gone"
        assert kb.delete("refund") and "refund" not in doc_ids(kb.search("refund window", k=20, mode="dense"))
        if name == "qdrant":  # deleted for real inside Qdrant: the live points are exactly the live chunks
            live = len(kb.snap.chunks) - len(kb.snap.dead)
            with kb.vectors.call() as client:
                assert client.count(kb.snap.vindex.collection, exact=True).count == live


def test_qdrant_topk_equals_faiss_flat_on_random_vectors_with_tenants():
    """The reference: FAISS Flat over the rows a tenant may see, against Qdrant's payload filter, seeded data."""
    rng = np.random.default_rng(7)
    n, dim = 400, 24
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    tenants = rng.choice(["public", "a", "b", "c"], size=n, p=[0.1, 0.6, 0.25, 0.05])
    chunks = [{"tenant": str(t), "doc_id": f"d{i}"} for i, t in enumerate(tenants)]
    flat = FaissIndex("flat", dim, x)
    qdrant = QdrantVectors(path=":memory:").create("flat", dim, x, chunks, "random")
    for q in rng.standard_normal((8, dim)).astype(np.float32):
        for tenant in ("a", "c"):
            allowed = {i for i, t in enumerate(tenants) if t in (tenant, "public")}
            want = flat.search(q, 50, allowed)
            got = qdrant.search(q, 50, scope={"tenant": tenant, "filters": {}})
            assert [r for r, _ in got] == [r for r, _ in want]  # exact search: the same rows in the same order
            assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
            assert all(tenants[r] in (tenant, "public") for r, _ in got)


def test_qdrant_hnsw_recall_at_10_against_faiss_flat():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((20, 32))
    x = (centres[rng.integers(0, 20, 800)] + 0.3 * rng.standard_normal((800, 32))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    flat = FaissIndex("flat", 32, x)
    hnsw = QdrantVectors(path=":memory:", m=16, ef_construct=64, ef=64).create(
        "hnsw", 32, x, [payload({"tenant": "public"})] * len(x), "recall")
    queries = rng.standard_normal((15, 32)).astype(np.float32)
    recall = np.mean([len({r for r, _ in hnsw.search(q, 10)} & {r for r, _ in flat.search(q, 10)}) / 10
                      for q in queries])
    assert recall >= 1 - TOL, recall


def test_ivf_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="not offered by the qdrant"):
        QdrantVectors(path=":memory:").create("ivfpq", 8, np.zeros((0, 8), np.float32), [], "x")


def test_the_eval_table_agrees_with_faiss_flat(kb, tmp_path):
    """The fixture corpus (MiniLM, the session's cached embeddings) in Qdrant: dense and hybrid metrics."""
    questions = load("eval")[:12]
    want = {config: evaluate(kb, config, questions, with_answers=False)["overall"] for config in ("dense", "hybrid")}
    folder = tmp_path / "qdrant-kb"
    folder.mkdir()
    with sqlite3.connect(kb.folder / "embeddings.sqlite") as src, sqlite3.connect(folder / "embeddings.sqlite") as dst:
        src.backup(dst)  # chunks and questions already embedded (a WAL file is not copied by copying the file)
    qkb = KnowledgeBase(folder, RetrievalConfig(index="flat"), model=kb.model, vectors=backend("qdrant"))
    qkb.upsert(load("corpus"))
    for config in ("dense", "hybrid"):
        got = evaluate(qkb, config, questions, with_answers=False)["overall"]
        assert want[config].keys() == got.keys()
        for metric in got:
            assert abs(got[metric] - want[config][metric]) <= TOL, (config, metric, got[metric], want[config][metric])


def test_the_service_on_qdrant_isolates_tenants_over_http(tmp_path):
    settings = get_settings(data_dir=tmp_path, vector_store="qdrant")  # embedded: DATA_DIR/lab06/qdrant
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.app.state.readiness["vectors"]().startswith("qdrant embedded")  # the /readyz check
        assert client.post("/documents", json={"documents": DOCS}).status_code == 200
        public = client.post("/search", json={"query": "Acme refund approver", "k": 10, "mode": "dense"}).json()
        acme = client.post("/search", json={"query": "Acme refund approver", "k": 10, "mode": "dense",
                                            "tenant": "acme"}).json()
        assert "acme-key" not in doc_ids(public["results"]) and doc_ids(acme["results"])[0] == "acme-key"
        assert "globex-key" not in doc_ids(acme["results"])


def test_an_unreachable_qdrant_is_a_503_with_the_reason(tmp_path):
    settings = get_settings(data_dir=tmp_path, vector_store="qdrant", qdrant_url="http://127.0.0.1:1")
    client = TestClient(create_app(settings), raise_server_exceptions=False)  # no warm-up: requests meet it
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "Qdrant unavailable (http://127.0.0.1:1)" in ready.json()["error"]["checks"]["vectors"]["detail"]
    for r in (client.post("/search", json={"query": "refund window", "mode": "dense"}),
              client.post("/documents", json={"documents": DOCS[:1]})):
        assert r.status_code == 503, r.text
        assert r.json()["error"]["message"].startswith("Qdrant unavailable") and r.headers["retry-after"]
    assert not (tmp_path / "lab06" / "service" / "index").exists(), "no FAISS index stands in for Qdrant"
