"""GraphRAG: the mock's extractor, modularity against networkx, communities, global answers, the routes."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from labs.lab06_rag import graphrag
from labs.lab06_rag.app import create_app
from shared.config import get_settings
from shared.llm import Model
from shared.mockllm.behaviours.rag import summary, triples

RAG = Model.from_settings(model="mock/rag")
DOCS = [
    {"id": "p1", "title": "Plans: SSO", "text": "Single sign-on is included from the Enterprise plan upward."},
    {"id": "p2", "title": "Plans: SCIM", "text": "SCIM provisioning is included from the Enterprise plan upward."},
    {"id": "p3", "title": "Plans: trash", "text": "Trash is included from the Starter plan upward."},
    {"id": "p4", "title": "Plans: upload", "text": "File upload is included from the Starter plan upward."},
    {"id": "f1", "title": "Upload", "text": "In Tessera 3.1, the maximum upload size for file upload is 10 GB."},
    {"id": "f2", "title": "Regions", "text": "In Tessera 3.1, the available storage regions for data residency are US, EU and APAC."},
    {"id": "x", "tenant": "acme", "title": "Acme", "text": "Acme SSO is included from the Secret plan upward."},
]


def test_extractor_reads_copular_sentences_and_skips_clauses():
    assert triples(DOCS[4]["text"]) == ["file upload | maximum upload size in Tessera 3.1 | 10 GB"]
    assert triples(DOCS[5]["text"]) == ["data residency | available storage regions in Tessera 3.1 | US, EU and APAC"]
    assert triples(DOCS[0]["text"]) == ["Single sign-on | is included from | Enterprise plan"]
    assert triples("If trash is not listed, ask. Restart the client, then check that sync is on.") == []
    assert triples("Upgrading from Tessera 3.0 to 3.1 leaves CLI unchanged: it stays brew.") == [
        "Upgrading from Tessera 3.0 to 3.1 | leaves unchanged | CLI"]
    text = summary([("a", "is included from", "P"), ("b", "is included from", "P"), ("a", "size", "1 GB")])
    assert text == "A and b: is included from P. A: size 1 GB."


@pytest.mark.parametrize("seed", range(4))
def test_modularity_matches_networkx_on_random_weighted_graphs(seed):
    rng = np.random.default_rng(seed)
    g = nx.gnm_random_graph(30, 70, seed=seed)
    for u, v in g.edges:
        g[u][v]["weight"] = int(rng.integers(1, 5))
    labels = rng.integers(0, 4, 30)
    parts = [set(np.flatnonzero(labels == c).tolist()) for c in range(4)]
    parts = [p for p in parts if p]
    assert graphrag.modularity(g, parts) == pytest.approx(nx.community.modularity(g, parts, weight="weight"))
    louvain = nx.community.louvain_communities(g, weight="weight", seed=seed)
    assert graphrag.modularity(g, louvain) == pytest.approx(nx.community.modularity(g, louvain, weight="weight"))


def test_graph_communities_and_a_global_answer_from_them():
    g = graphrag.build(DOCS, RAG)
    assert "secret plan" not in g.graph  # another tenant's document never enters the shared graph
    assert g.graph["file upload"]["starter plan"]["docs"] == {"p4"}
    by_node = {n: c["id"] for c in g.communities for n in c["nodes"]}
    assert by_node["single sign-on"] == by_node["scim provisioning"] == by_node["enterprise plan"]
    assert by_node["trash"] == by_node["starter plan"] != by_node["enterprise plan"]
    assert g.stats()["modularity"] > 0.3
    r = graphrag.ask(g, "Which features are included from the Enterprise plan upward?", RAG)
    assert graphrag.named_features(r["answer"]) >= {"single sign-on", "SCIM provisioning"}
    assert {"p1", "p2"} <= set(r["documents"]) and r["communities_read"] == len(g.communities)
    assert "don't know" in graphrag.ask(g, "What colour is the office cat?", RAG)["answer"]


def test_feature_names_are_matched_longest_first():
    assert graphrag.named_features("LAN sync and the sync engine, via the API; APAC is a region") == {
        "LAN sync", "sync engine", "API"}
    assert graphrag.score("trash and backup", ["trash", "search"]) == {"recall": 0.5, "precision": 0.5}
    truth = graphrag.global_questions()
    assert len(truth) == 5 and sum(len(q["features"]) for q in truth[:4]) == 30


def test_graph_routes_rebuild_when_documents_change(tmp_path):
    with TestClient(create_app(get_settings(data_dir=tmp_path)), raise_server_exceptions=False) as c:
        assert c.post("/documents", json={"documents": DOCS[:3]}).status_code == 200
        first = c.get("/graph").json()
        assert first["relations"] == 3 and first["communities"] == 2
        assert c.post("/documents", json={"documents": DOCS[3:4]}).status_code == 200
        assert c.get("/graph").json()["relations"] == 4
        r = c.post("/graph/ask", json={"query": "Which features are included from the Starter plan upward?"}).json()
        assert graphrag.named_features(r["answer"]) >= {"trash", "file upload"}
        for bad in ({"query": "  "}, {"query": "x", "extra": 1}, {}):
            assert c.post("/graph/ask", json=bad).status_code == 422
        assert c.post("/answer/multihop", json={"query": "x", "strategy": "psychic"}).status_code == 422
        assert c.post("/answer/multihop", json={"query": "x", "tenant": "initech"}).status_code == 404
        assert c.post("/answer/multihop", json={"query": "x", "filters": {"colour": "red"}}).status_code == 422
        r = c.post("/search", json={"query": "which plan has trash", "rewrite": "multi_query", "k": 1}).json()
        assert r["queries"][0] == "which plan has trash" and len(r["queries"]) == len(set(r["queries"])) > 1
