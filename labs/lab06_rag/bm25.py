"""BM25 from its formula, over a sparse document-term matrix.

    python -c "from labs.lab06_rag.bm25 import BM25; print(BM25([['a','b'],['b','c']]).scores(['c']))"

    score(q, d) = Σ_{t ∈ q} idf(t) · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
    idf "okapi"  (rank-bm25): ln((N − n_t + 0.5) / (n_t + 0.5)), negatives floored to ε·mean(idf)
    idf "lucene" (bm25s):     ln(1 + (N − n_t + 0.5) / (n_t + 0.5))

k1 saturates term frequency (the 10th "refund" adds little over the 2nd); b normalises by length
(b=1: a long document's counts are fully discounted; b=0: not at all). Because the document side is
fixed, the whole fraction times idf is precomputed into W (docs × vocab), and a query is the sum of
its terms' columns: scores = W · q. No loop over documents.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class BM25:
    def __init__(self, corpus: list[list[str]], k1: float = 1.5, b: float = 0.75, idf: str = "okapi",
                 epsilon: float = 0.25):
        if idf not in {"okapi", "lucene"}:
            raise ValueError("idf must be 'okapi' or 'lucene'")
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        rows, cols = [], []
        for d, tokens in enumerate(corpus):
            for t in tokens:
                rows.append(d)
                cols.append(self.vocab.setdefault(t, len(self.vocab)))
        N = len(corpus)
        tf = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(N, len(self.vocab)))
        tf.sum_duplicates()
        dl = np.asarray(tf.sum(axis=1)).ravel()
        avgdl = dl.mean() if N else 0.0
        n_t = np.bincount(tf.indices, minlength=len(self.vocab)).astype(np.float64)
        if idf == "okapi":
            self.idf = np.log((N - n_t + 0.5) / (n_t + 0.5))
            floor = epsilon * self.idf.mean() if len(self.idf) else 0.0
            self.idf = np.where(self.idf < 0, floor, self.idf)
        else:
            self.idf = np.log(1 + (N - n_t + 0.5) / (n_t + 0.5))
        norm = k1 * (1 - b + b * dl / avgdl) if N else dl
        W = tf.tocoo()
        data = self.idf[W.col] * W.data * (k1 + 1) / (W.data + norm[W.row])
        # CSC: a query reads a few columns, so columns must be contiguous
        self.W = sp.csc_matrix((data.astype(np.float32), (W.row, W.col)), shape=tf.shape)
        self.n_docs = N

    def query_vector(self, query: list[str]) -> np.ndarray:
        """Term ids of the query, repeated terms kept (rank-bm25 counts them twice too)."""
        return np.array([self.vocab[t] for t in query if t in self.vocab], dtype=np.int64)

    def scores(self, query: list[str]) -> np.ndarray:
        """Σ over query terms of W's column: each column is a slice of the CSC arrays (its postings)."""
        s = np.zeros(self.n_docs, dtype=np.float32)
        ptr, rows, data = self.W.indptr, self.W.indices, self.W.data
        for t in self.query_vector(query):
            a, b = ptr[t], ptr[t + 1]
            s[rows[a:b]] += data[a:b]
        return s

    def top_k(self, query: list[str], k: int = 10, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(doc indices, scores) of the k best matches; `mask` (bool per doc) keeps only allowed documents.

        Only documents holding a query term can score > 0, so the partial sort runs over those."""
        s = self.scores(query)
        cand = np.flatnonzero(s > 0)  # a document that shares no query term is not a match
        if mask is not None:  # rows past the mask's end (added after it was made) are not allowed
            cand = cand[cand < len(mask)]
            cand = cand[mask[cand]]
        if k <= 0 or len(cand) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if len(cand) > k:
            cand = cand[np.argpartition(-s[cand], k - 1)[:k]]
        order = cand[np.lexsort((cand, -s[cand]))]
        return order, s[order]
