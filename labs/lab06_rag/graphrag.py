"""GraphRAG: an entity/relation graph from the knowledge base, community summaries, global questions.

    python -m labs.lab06_rag.graphrag        # the fixture's graph, its communities, and global questions
                                             # answered from them vs plain retrieval
    curl -s localhost:8006/graph/ask -d '{"query": "Which features are included from the Starter plan upward?"}'

Plain RAG answers from the k chunks nearest the question. A global question ("which features come
with the Starter plan?") has an answer spread over more documents than any k holds. GraphRAG does the
reading ahead of time:

1. extract    the model lists `subject | relation | object` triples for every public document
2. graph      entities are nodes (names compared lower-cased), relations are edges; an edge's weight
              is how many triples join the pair, and it remembers the documents they came from
3. communities  Louvain (networkx) groups the nodes to maximise the modularity
                    Q = Σ_c [ L_c / m − (d_c / 2m)² ]
                L_c: edge weight inside community c, d_c: total degree of c, m: total edge weight
                (modularity() computes it; tests check it against networkx)
4. summaries  the model summarises each community's relations (a relation belongs to the community of
              its subject, so each is summarised once)
5. answer     map-reduce over the summaries: each summary answers the question on its own, as a source
              [community-i] (map); the partial answers that know are joined (reduce)

Only public documents are read, so the graph is the same for every tenant and leaks nothing. The
graph is rebuilt when the documents change (GraphIndex caches it on their count and last write).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from labs.lab06_rag.answer import DONT_KNOW, answer, rag_model
from labs.lab06_rag.corpus import FEATURES, PLANS, VERSIONS, load
from labs.lab06_rag.decompose import knows
from labs.lab06_rag.kb import PUBLIC, KnowledgeBase, fixture_kb
from shared.config import get_settings
from shared.llm import Model

EXTRACT = ("Extract task. List the entities in the text and how they relate, one relation a line as "
           "`subject | relation | object`; nothing else.\nTitle: {title}\nText: {text}")
SUMMARISE = ("Summarise task. Summarise this group of related facts in a few sentences that keep every "
             "name and value.\nFacts:\n{facts}")
MAX_FACTS = 60  # per community summary prompt: a bounded prompt, the most-connected subjects first
MAX_COMMUNITIES = 64  # summarised and read per global question (the largest first)


@dataclass
class Graph:
    graph: nx.Graph
    triples: list[dict[str, str]]
    communities: list[dict[str, Any]] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        parts = [set(c["nodes"]) for c in self.communities]
        return {"entities": self.graph.number_of_nodes(), "relations": len(self.triples),
                "edges": self.graph.number_of_edges(), "communities": len(self.communities),
                "modularity": round(modularity(self.graph, parts), 4) if parts else 0.0}


def key(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower())


def extract(doc: dict, model: Model) -> list[dict[str, str]]:
    """The model's triples for one document; lines that are not `a | b | c` are skipped."""
    text = model.complete(EXTRACT.format(title=doc.get("title", ""), text=doc["text"])).text
    out = []
    for line in text.splitlines():
        parts = [p.strip(" `") for p in line.split("|")]
        if len(parts) == 3 and all(parts) and all(len(p) <= 200 for p in parts):
            out.append({"subject": parts[0], "relation": parts[1], "object": parts[2], "doc_id": doc["id"]})
    return out


def modularity(graph: nx.Graph, communities: list[set]) -> float:
    """Q = Σ_c [L_c / m − (d_c / 2m)²] over a partition of the nodes, edge weights counted ('weight', 1)."""
    m = graph.size(weight="weight")
    if m == 0:
        return 0.0
    q = 0.0
    for c in communities:
        inside = sum(w for u, v, w in graph.edges(c, data="weight", default=1) if u in c and v in c)
        degree = sum(d for _, d in graph.degree(c, weight="weight"))
        q += inside / m - (degree / (2 * m)) ** 2
    return q


def build(docs: list[dict], model: Model | None = None, seed: int = 0) -> Graph:
    """Extract, link, partition (Louvain), summarise."""
    model = rag_model(model)
    triples = [t for d in docs if d.get("tenant", PUBLIC) == PUBLIC for t in extract(d, model)]
    g = nx.Graph()
    for t in triples:
        s, o = key(t["subject"]), key(t["object"])
        if s == o:
            continue
        for node, name in ((s, t["subject"]), (o, t["object"])):
            if node not in g:
                g.add_node(node, name=name)
        if g.has_edge(s, o):
            g[s][o]["weight"] += 1
            g[s][o]["docs"].add(t["doc_id"])
        else:
            g.add_edge(s, o, weight=1, docs={t["doc_id"]})
    graph = Graph(g, triples)
    parts = nx.community.louvain_communities(g, weight="weight", seed=seed) if g.number_of_nodes() else []
    parts = sorted(parts, key=lambda c: (-len(c), min(c)))[:MAX_COMMUNITIES]
    for i, nodes in enumerate(parts):
        mine = [t for t in triples if key(t["subject"]) in nodes and key(t["subject"]) != key(t["object"])]
        degree = dict(g.degree(nodes, weight="weight"))
        mine.sort(key=lambda t: -degree.get(key(t["subject"]), 0))
        facts = "\n".join(f"{t['subject']} | {t['relation']} | {t['object']}" for t in mine[:MAX_FACTS])
        hub = max(nodes, key=lambda n: (degree[n], n))
        graph.communities.append({
            "id": f"community-{i}", "size": len(nodes), "hub": g.nodes[hub]["name"],
            "nodes": sorted(nodes), "documents": sorted({t["doc_id"] for t in mine}),
            "summary": model.complete(SUMMARISE.format(facts=facts)).text.strip() if mine else ""})
    return graph


def ask(graph: Graph, question: str, model: Model | None = None) -> dict[str, Any]:
    """Global search: every community summary answers alone (map); the answers that know are joined (reduce)."""
    partial = []
    for c in graph.communities:
        if not c["summary"]:
            continue
        source = {"doc_id": c["id"], "title": f"Community around {c['hub']}", "text": c["summary"]}
        result = answer(question, [source], model)
        if knows(result["answer"]) and result["citations"]:
            partial.append({"community": c["id"], "answer": result["answer"], "documents": c["documents"]})
    text = " ".join(p["answer"] for p in partial) if partial else DONT_KNOW
    return {"answer": text, "communities_read": sum(bool(c["summary"]) for c in graph.communities),
            "communities_used": [p["community"] for p in partial],
            "documents": sorted({d for p in partial for d in p["documents"]})}


class GraphIndex:
    """The graph of a knowledge base's public documents, rebuilt when they change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: tuple[tuple, Graph] | None = None

    def get(self, kb: KnowledgeBase, model: Model | None = None) -> Graph:
        row = kb.store.one("SELECT COUNT(*) AS n, MAX(stored_at) AS t FROM documents")
        stamp = (row["n"], row["t"], kb.snap.version)
        with self._lock:
            if self._built is None or self._built[0] != stamp:
                self._built = (stamp, build(kb.documents(), model))
            return self._built[1]


# --- global questions from the fixture, and the comparison with plain retrieval -----------------------

_NAMES = sorted((f[0] for f in FEATURES), key=len, reverse=True)


def named_features(text: str) -> set[str]:
    """Feature names an answer mentions (longest first, so "LAN sync" is not also "sync engine"'s "sync")."""
    low, found = text.lower(), set()
    for name in _NAMES:
        pattern = re.compile(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])")
        if pattern.search(low):
            found.add(name)
            low = pattern.sub(" ", low)
    return found


def global_questions() -> list[dict[str, Any]]:
    """Questions whose answer is a set of features spread over many documents, with that set."""
    qs = [{"question": f"Which features are included from the {p} plan upward?",
           "features": sorted(f[0] for f in FEATURES if f[4] == p)} for p in PLANS]
    qs.append({"question": f"What changes when upgrading from Tessera {VERSIONS[-2]} to {VERSIONS[-1]}?",
               "features": sorted(f[0] for f in FEATURES if f[3][-2] != f[3][-1])})
    return qs


def score(text: str, truth: list[str]) -> dict[str, float]:
    named, truth_set = named_features(text), set(truth)
    hit = len(named & truth_set)
    return {"recall": round(hit / len(truth_set), 4), "precision": round(hit / len(named), 4) if named else 0.0}


def compare(kb: KnowledgeBase, graph: Graph, model: Model | None = None, ks: tuple[int, ...] = (5, 20)) -> dict:
    """Feature recall and precision of the answers to the global questions: GraphRAG vs plain hybrid top-k."""
    rows = []
    for q in global_questions():
        row = {"question": q["question"], "features": len(q["features"])}
        row["graphrag"] = score(ask(graph, q["question"], model)["answer"], q["features"])
        for k in ks:
            row[f"plain k={k}"] = score(answer(q["question"], kb.search(q["question"], k), model)["answer"],
                                        q["features"])
        rows.append(row)
    methods = ["graphrag", *(f"plain k={k}" for k in ks)]
    mean = {m: {s: round(sum(r[m][s] for r in rows) / len(rows), 4) for s in ("recall", "precision")}
            for m in methods}
    return {"questions": rows, "mean": mean, "graph": graph.stats()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    graph = build(load("corpus"))
    kb = fixture_kb(get_settings().lab_dir("lab06") / "eval")
    result = compare(kb, graph)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("graph:", json.dumps(graph.stats()))
    for c in graph.communities[:6]:
        print(f"  {c['id']} ({c['size']} entities, hub {c['hub']!r}): {c['summary'][:160]}")
    for row in result["questions"]:
        print(row["question"], {m: v for m, v in row.items() if isinstance(v, dict)})
    print("mean:", json.dumps(result["mean"]))


if __name__ == "__main__":
    main()
