"""BM25 from its formula, over a sparse document-term matrix.

    python -c "from labs.lab06_rag.bm25 import BM25; print(BM25([['a','b'],['b','c']]).scores(['c']))"

    score(q, d) = Σ_{t ∈ q} idf(t) · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
    idf "okapi"  (rank-bm25): ln((N − n_t + 0.5) / (n_t + 0.5)), negatives floored to ε·mean(idf)
    idf "lucene" (bm25s):     ln(1 + (N − n_t + 0.5) / (n_t + 0.5))

k1 saturates term frequency (the 10th "refund" adds little over the 2nd); b normalises by length
(b=1: a long document's counts are fully discounted; b=0: not at all). Because the document side is
fixed, the whole fraction times idf is precomputed into W (docs × vocab), and a query is the sum of
its terms' columns: scores = W · q. No loop over documents.

Frequent terms: scattering a posting list costs ~2 ns per posting, adding a dense row ~0.2 ns per
document, so a term in more than 1/DENSE_DF of the documents also keeps its column as a dense row
(memory ≤ 4·DENSE_DF bytes per posting, bounded because Σ n_t = postings). top_k finds the k best
without sorting every match: the k-th best score of a strided sample is a lower bound of the true
k-th best (those sampled documents exist), so only documents at or above it are sorted.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

DENSE_DF = 8  # a term in ≥ 1/8 of the documents is stored dense too (break-even ≈ 1/10)
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
        self.W.sort_indices()  # each column's postings ascending by document: _matches searches them
        self.n_docs = N
        frequent = np.flatnonzero(n_t * DENSE_DF >= max(N, 1)) if N >= 64 else np.zeros(0, dtype=np.int64)
        self.dense_row = {int(t): r for r, t in enumerate(frequent)}  # term id -> its row of D
        self.D = self.W[:, frequent].T.toarray() if len(frequent) else np.zeros((0, N), dtype=np.float32)

    def query_vector(self, query: list[str]) -> np.ndarray:
        """Term ids of the query, repeated terms kept (rank-bm25 counts them twice too)."""
        return np.array([self.vocab[t] for t in query if t in self.vocab], dtype=np.int64)

    def _terms(self, query: list[str]) -> tuple[list[int], list[int]]:
        """(rows of D for the query's frequent terms, column ids of W for the rest), in query order."""
        dense, sparse = [], []
        for t in query:  # a Python loop over a few terms beats numpy calls on tiny arrays
            if (i := self.vocab.get(t)) is not None:
                r = self.dense_row.get(i)
                (sparse if r is None else dense).append(i if r is None else r)
        return dense, sparse

    def scores(self, query: list[str]) -> np.ndarray:
        """Σ over query terms of W's column: a dense row for frequent terms, else a slice of the CSC
        arrays (its postings) scattered with np.add.at (one pass; s[rows] += data gathers, adds, scatters)."""
        return self._scores(*self._terms(query))

    def _scores(self, dense: list[int], sparse: list[int]) -> np.ndarray:
        if dense:
            s = self.D[dense[0]].copy()
            for r in dense[1:]:
                s += self.D[r]
        else:
            s = np.zeros(self.n_docs, dtype=np.float32)
        ptr, rows, data = self.W.indptr, self.W.indices, self.W.data
        for t in sparse:
            a, b = ptr[t], ptr[t + 1]
            np.add.at(s, rows[a:b], data[a:b])
        return s

    def _matched_docs(self, terms: list[int]) -> np.ndarray | None:
        """The documents that share a term with a query of rare terms only (`terms`: their W columns):
        the union of their posting lists, ascending; None when the postings are too many to sort."""
        ptr, rows = self.W.indptr, self.W.indices
        if sum(ptr[t + 1] - ptr[t] for t in terms) * 8 > self.n_docs:  # then a pass over all docs is cheaper
            return None
        if len(terms) == 1:
            return rows[ptr[terms[0]]:ptr[terms[0] + 1]]
        docs = np.sort(np.concatenate([rows[ptr[t]:ptr[t + 1]] for t in terms])) if terms else rows[:0]
        return docs[np.concatenate(([True], docs[1:] != docs[:-1]))] if len(docs) else docs  # (np.unique: 7x slower)

    def _best(self, docs: np.ndarray, sc: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        keep = sc > 0
        docs, sc = docs[keep], sc[keep]
        if len(docs) > 4 * k:  # keep every document tied with the k-th best, so ties break by index
            kth = np.partition(sc, len(sc) - k)[len(sc) - k]
            keep = sc >= kth
            docs, sc = docs[keep], sc[keep]
        order = np.lexsort((docs, -sc))[:k]
        return docs[order].astype(np.int64), sc[order]

    def top_k(self, query: list[str], k: int = 10, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(doc indices, scores) of the k best matches, best first, ties by document order; `mask`
        (bool per doc) keeps only allowed documents. A document with score ≤ 0 shares no query term
        (or only terms whose idf is ≤ 0) and is not a match. A query of rare terms only is ranked among
        the documents in its postings (a few hundred), not by a pass over every document's score."""
        if k <= 0 or self.n_docs == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        dense, sparse = self._terms(query)
        s = self._scores(dense, sparse)
        if not dense and (docs := self._matched_docs(sparse)) is not None:
            if mask is not None:  # rows past the mask's end (added after it was made) are not allowed
                m = np.asarray(mask, dtype=bool)
                docs = docs[docs < len(m)]
                docs = docs[m[docs]]
            return self._best(docs, s[docs], k)
        if mask is not None:  # rows past the mask's end (added after it was made) are not allowed
            m = min(len(mask), self.n_docs)
            s[:m][~np.asarray(mask[:m], dtype=bool)] = 0
            s[m:] = 0
        floor = 0.0  # a lower bound of the k-th best score: the k-th best of any k real documents
        stride = self.n_docs // (32 * k)
        if stride >= 2:  # a strided sample of ≥ 32k documents (sorting long posting lists instead measured slower)
            sample = s[::stride]
            floor = float(np.partition(sample, len(sample) - k)[len(sample) - k])
        cand = np.flatnonzero(s >= floor) if floor > 0 else np.flatnonzero(s > 0)
        return self._best(cand, s[cand], k)
