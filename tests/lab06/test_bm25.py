"""BM25 against rank-bm25 (scores) and bm25s (top-k) on random corpora."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from labs.lab06_rag.bm25 import BM25, tokenize


def random_corpus(seed: int, n_docs: int = 120, vocab: int = 60):
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, vocab + 1)
    p /= p.sum()
    docs = [[f"w{t}" for t in rng.choice(vocab, rng.integers(3, 30), p=p)] for _ in range(n_docs)]
    queries = [[f"w{t}" for t in rng.choice(vocab + 5, rng.integers(1, 6))] for _ in range(25)]
    return docs, queries


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (1.2, 0.3), (2.0, 1.0)])
def test_scores_match_rank_bm25(seed, k1, b):
    docs, queries = random_corpus(seed)
    ours, ref = BM25(docs, k1=k1, b=b), BM25Okapi(docs, k1=k1, b=b)
    for q in queries:
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(q), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_top_k_matches_bm25s(seed):
    docs, queries = random_corpus(seed, n_docs=300, vocab=400)
    ours = BM25(docs, idf="lucene")
    ref = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    ref.index(bm25s.tokenization.Tokenized(
        ids=[[ours.vocab[t] for t in d] for d in docs],
        vocab={t: i for t, i in ours.vocab.items()}), show_progress=False)
    for q in queries:
        ids = [ours.vocab[t] for t in q if t in ours.vocab]
        if not ids:
            continue
        theirs = ref.get_scores(ids)
        mine = ours.scores(q)
        # bm25s leaves out the (k1 + 1) factor: scores differ by that constant
        np.testing.assert_allclose(mine, theirs * 2.5, rtol=1e-4, atol=1e-4)
        top, _ = ours.top_k(q, 10)
        best = np.sort(mine[mine > 0])[::-1][:10]
        np.testing.assert_allclose(np.sort(mine[top])[::-1], best)
        np.testing.assert_allclose(np.sort(theirs)[::-1][:len(best)] * 2.5, best, rtol=1e-4)


def test_mask_filters_and_empty_queries():
    bm = BM25([tokenize("refund policy"), tokenize("refund refund window"), tokenize("sso setup")])
    idx, _ = bm.top_k(["refund"], 3, mask=np.array([True, False, True]))
    assert list(idx) == [0]
    idx, _ = bm.top_k(["refund"], 3, mask=np.array([False]))  # a mask made before rows were appended
    assert list(idx) == []
    assert bm.top_k(["nothing"], 3)[0].tolist() == []
    assert bm.scores([]).sum() == 0


@pytest.mark.parametrize("seed", range(4))
def test_dense_rows_for_frequent_terms_equal_the_formula(seed):
    """Terms in most documents take the precomputed dense-row path; scores still equal rank-bm25's and
    top_k equals a full sort (score descending, ties by document index), with and without a mask, on
    both kinds of query (with frequent terms: dense rows; rare terms only: postings)."""
    rng = np.random.default_rng(seed)
    docs = [[f"w{t}" for t in rng.choice(8, rng.integers(2, 6))] + [f"r{t}" for t in rng.choice(300, rng.integers(1, 12))]
            for _ in range(400)]
    queries = [[f"w{t}" for t in rng.choice(8, rng.integers(0, 3))] + [f"r{t}" for t in rng.choice(310, rng.integers(0, 4))]
               for _ in range(30)]  # some hold only rare terms: top_k then searches their postings only
    ours, ref = BM25(docs), BM25Okapi(docs)
    assert len(ours.D) >= 4  # the frequent w-terms really are stored dense
    mask = rng.random(len(docs)) < 0.6
    for q in queries:
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(q), rtol=1e-4, atol=1e-4)
        s = ours.scores(q)
        for k, m in [(10, None), (3, mask), (50, mask)]:
            allowed = np.ones(len(docs), bool) if m is None else m
            want = [i for i in np.lexsort((np.arange(len(s)), -s)) if s[i] > 0 and allowed[i]][:k]
            got, got_s = ours.top_k(q, k, mask=m)
            assert got.tolist() == want
            np.testing.assert_array_equal(got_s, s[want])
