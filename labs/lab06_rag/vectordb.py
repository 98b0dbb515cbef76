"""Choosing a vector database, and self-hosting embeddings vs an API: both computed from inputs.

    curl -s localhost:8006/vectordb/decide -d '{"vectors": 50000000, "dim": 768, "hybrid": true}'
    curl -s localhost:8006/vectordb/cost -d '{"documents": 2000000, "queries_per_month": 30000000}'
    python -m labs.lab06_rag.exercises          # both, worked on the chapter's numbers

Memory per vector, the number that decides most deployments (d dimensions, float32, HNSW with M
links per node on the base layer, PQ with m one-byte codes):

    flat     4d bytes                    exact; the baseline
    hnsw     4d + 2M·4 bytes             the graph's links on top of the full vectors
    ivf      4d + 8 bytes                full vectors plus a list id
    ivfpq    m + 8 bytes                 m = d/8 codes: what IVF-PQ buys (recall: dense.py's bench)
    diskann  m + 8 bytes in RAM          PQ codes in RAM, full vectors and graph on SSD

shards = ⌈bytes · N · headroom / RAM per node⌉, nodes = shards · ⌈QPS / QPS per node⌉. The decision matrix drops the options that cannot meet
a hard requirement (scale, filtering, hybrid search, managed or not, an index that fits), each with
its reason, and ranks the rest by a weighted sum of 0..5 scores; the weights are inputs.

Cost per month (prices per 1M tokens; the API price defaults to fixtures/prices.json):

    API        = (T_corpus · r + Q · t_q) · p / 10⁶                   r: share re-embedded a month
    self-host  = max(H_on, (T_corpus · r + Q · t_q) / (τ · 3600)) · g  + E · w
                 H_on: always-on GPU hours (serving queries), τ tokens/s, g $/GPU-hour, E hours · w $/hour
    break-even Q* where they are equal (self-host is flat until the GPU is busy all the time)
"""

from __future__ import annotations

import json
import math
from typing import Any

from shared.config import FIXTURES
from shared.pricing import price_for

OPTIONS_FILE = FIXTURES / "lab06" / "vectordbs.json"
HOURS_PER_MONTH = 730
HNSW_M = 16
HEADROOM = 1.3  # RAM beyond the index: the OS, the process, segment merges, a rebuild's second copy
INDEX_ORDER = ("flat", "hnsw", "ivf", "ivfpq", "diskann")  # best recall first, smallest memory last
DEFAULT_WEIGHTS = {"scale": 1.0, "filtering": 1.0, "hybrid": 1.0, "tenancy": 1.0, "operations": 1.0, "sql": 0.5}
API_EMBEDDING_MODEL = "openai/text-embedding-3-small"


def options() -> dict[str, dict[str, Any]]:
    return json.loads(OPTIONS_FILE.read_text())["options"]


def bytes_per_vector(index: str, dim: int, m: int | None = None) -> float:
    m = m or max(1, dim // 8)
    return {"flat": 4 * dim, "hnsw": 4 * dim + 2 * HNSW_M * 4, "ivf": 4 * dim + 8, "ivfpq": m + 8,
            "diskann": m + 8}[index]


def memory(vectors: int, dim: int, ram_gb: float) -> dict[str, dict[str, float]]:
    """RAM and nodes per index kind for N vectors of d dimensions."""
    out = {}
    for index in INDEX_ORDER:
        gb = bytes_per_vector(index, dim) * vectors / 1e9
        out[index] = {"gb": round(gb, 3), "nodes": max(1, math.ceil(gb * HEADROOM / ram_gb))}
    return out


def decide(vectors: int, dim: int, qps: float = 50, qps_per_node: float = 500, filters: bool = True, hybrid: bool = False,
           tenants: int = 1, managed: str = "either", sql: bool = False, ram_gb: float = 64,
           max_nodes: int = 8, exact_recall: bool = False, weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The decision matrix: every option scored, or dropped with the requirements it misses."""
    w = DEFAULT_WEIGHTS | (weights or {})
    mem = memory(vectors, dim, ram_gb)
    # the best-recall approximate index that fits the node budget (flat only when exact recall is required)
    fitting = [i for i in (("flat",) if exact_recall else INDEX_ORDER[1:]) if mem[i]["nodes"] <= max_nodes]
    replicas = max(1, math.ceil(qps / qps_per_node))
    rows = []
    for name, o in options().items():
        why = []
        if vectors > o["max_vectors"]:
            why.append(f"{vectors:.0e} vectors is past its practical ceiling ({o['max_vectors']:.0e})")
        if filters and o["filters"] == "none":
            why.append("no metadata filtering")
        if hybrid and not o["hybrid"]:
            why.append("no hybrid (BM25 + vector) search")
        if managed == "required" and not o["managed"]:
            why.append("not offered as a managed service")
        if managed == "avoid" and not o["self_host"]:
            why.append("cannot be self-hosted")
        if tenants > 1 and o["tenancy"] == "none":
            why.append("no tenant isolation")
        usable = [i for i in fitting if i in o["indexes"]]
        if not usable:
            why.append(f"no index kind it offers fits {max_nodes} nodes of {ram_gb:g} GB")
        scores = {
            "scale": min(5.0, max(0.0, math.log10(o["max_vectors"] / max(vectors, 1)) + 3)),
            "filtering": {"pre": 5.0, "post": 2.0, "none": 0.0}[o["filters"]] if filters else 5.0,
            "hybrid": (5.0 if o["hybrid"] else 0.0) if hybrid else 5.0,
            "tenancy": ({"native": 5.0, "filter": 3.0, "none": 0.0}[o["tenancy"]] if tenants > 1 else 5.0),
            "operations": 6.0 - o["ops"] if managed != "avoid" else 5.0 - abs(o["ops"] - 2),
            "sql": (5.0 if o["sql"] else 1.0) if sql else 5.0,
        }
        if managed == "preferred":
            scores["operations"] = min(5.0, scores["operations"] + (1.0 if o["managed"] else -1.0))
        total = sum(w[k] * v for k, v in scores.items()) / sum(w.values())
        rows.append({"option": name, "eliminated": why, "index": usable[0] if usable else None,
                     "nodes": mem[usable[0]]["nodes"] * replicas if usable else None,
                     "scores": {k: round(v, 2) for k, v in scores.items()}, "score": round(total, 3)})
    rows.sort(key=lambda r: (bool(r["eliminated"]), -r["score"], r["option"]))
    best = next((r["option"] for r in rows if not r["eliminated"]), None)
    return {"memory": mem, "replicas": replicas, "weights": w, "matrix": rows, "choice": best}


def cost(documents: int, tokens_per_document: float = 500, reembed_share: float = 0.05,
         queries_per_month: float = 1e6, tokens_per_query: float = 20, api_price_per_m: float | None = None,
         gpu_hour_usd: float = 1.2, gpu_tokens_per_s: float = 20_000, always_on_gpus: int = 1,
         engineer_hours: float = 8, engineer_hour_usd: float = 100) -> dict[str, Any]:
    """Monthly embedding cost by API and self-hosted, the one-off first embedding, and the break-even volume."""
    p = price_for(API_EMBEDDING_MODEL).input if api_price_per_m is None else api_price_per_m
    corpus = documents * tokens_per_document
    monthly_tokens = corpus * reembed_share + queries_per_month * tokens_per_query
    api = monthly_tokens * p / 1e6
    busy_hours = monthly_tokens / (gpu_tokens_per_s * 3600)
    gpu_hours = max(always_on_gpus * HOURS_PER_MONTH, busy_hours)
    people = engineer_hours * engineer_hour_usd
    self_host = gpu_hours * gpu_hour_usd + people
    t_star = break_even_tokens(p, gpu_hour_usd, gpu_tokens_per_s, always_on_gpus, people)
    q_star = None if t_star is None else max(0, round((t_star - corpus * reembed_share) / tokens_per_query))
    return {"api_price_per_m_tokens": p, "monthly_tokens": round(monthly_tokens),
            "first_embedding": {"api_usd": round(corpus * p / 1e6, 2),
                                "self_host_gpu_hours": round(corpus / (gpu_tokens_per_s * 3600), 2)},
            "monthly_usd": {"api": round(api, 2), "self_host": round(self_host, 2),
                            "self_host_gpu": round(gpu_hours * gpu_hour_usd, 2), "self_host_people": round(people, 2)},
            "gpu_busy_share": round(busy_hours / (always_on_gpus * HOURS_PER_MONTH), 4),
            "cheaper": "api" if api <= self_host else "self_host",
            "break_even_tokens_per_month": None if t_star is None else round(t_star),
            "break_even_queries_per_month": q_star}


def break_even_tokens(p: float, g: float, tau: float, gpus: int, people: float) -> float | None:
    """Monthly tokens T* from which self-hosting costs no more than the API; None if never.

    Self-host is flat (F = H_on·g + people) until the always-on GPUs are busy (T_cap = H_on·τ·3600),
    then grows at g / (τ·3600) a token; the API grows at p / 10⁶ a token from zero."""
    h_on = gpus * HOURS_PER_MONTH
    flat, t_cap = h_on * g + people, h_on * tau * 3600
    api_rate, gpu_rate = p / 1e6, g / (tau * 3600)
    if api_rate <= 0:
        return None
    if flat / api_rate <= t_cap:  # the API passes the flat cost while the GPUs still have room
        return flat / api_rate
    if api_rate <= gpu_rate:  # past capacity a GPU token costs at least an API token: never
        return None
    return max(t_cap, people / (api_rate - gpu_rate))
